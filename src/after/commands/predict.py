"""`after predict BUNDLE INPUT... -o predictions.csv` and `after export BUNDLE --onnx model.onnx`."""
from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("predict", help="label audio files, folders or a manifest with a trained model bundle",
                       description="Label every clip (or segment) with a model bundle (RUN/model/ of `after "
                                   "train` or `after al`). Writes id,path,start_s,end_s,label,confidence and "
                                   "p_<class> per class; with a labelled manifest, also prints UA, WA and the "
                                   "confusion matrix.")
    p.add_argument("bundle", help="model bundle folder (e.g. RUN/model)")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files, folders and/or manifest .csv files")
    p.add_argument("-o", "--output", required=True, help="predictions CSV to write")
    p.add_argument("--segment", choices=("none", "vad", "fixed"), default="none",
                   help="cut each audio file into segments (voice activity or fixed windows); default: whole files")
    p.add_argument("--embeddings", metavar="FILE.npy", help="also save the penultimate-layer embeddings [n, H]")
    p.add_argument("--batch-seconds", type=float, default=60.0, help="padded audio seconds per batch (60)")
    p.add_argument("--bucket-seconds", type=float, default=0.25,
                   help="most length difference within a batch, bounding padding (Whisper has no mask) (0.25)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument("--normalize-by", choices=("bundle", "input", "speaker"), default="bundle",
                   help="frozen bundles: standardise features with the bundle's training statistics (bundle, "
                        "default), with all input clips' own statistics (input), or per speaker (speaker: a "
                        "manifest with a speaker column); the last two adapt to new audio without labels")
    p.set_defaults(handler=_handle_predict)

    e = sub.add_parser("export", help="export a model bundle (encoder, layer mix, pooling, head) to ONNX",
                       description="Write the whole model as one ONNX graph: input 'audio' [batch, samples] "
                                   "float32 at 16 kHz (one clip, or clips of equal length), output "
                                   "'probabilities' [batch, classes]; the time axis is dynamic.")
    e.add_argument("bundle", help="model bundle folder (e.g. RUN/model)")
    e.add_argument("--onnx", required=True, metavar="MODEL.onnx", help="ONNX file to write")
    e.add_argument("--check", action="store_true", help="compare onnxruntime with PyTorch on a test signal")
    e.set_defaults(handler=_handle_export)


# oneDNN (PyTorch's CPU convolution library) keeps a compiled kernel per input shape, up to 1024 of them,
# several MiB each: batches of ever-new lengths grew peak memory by ~0.35 MiB per clip (whisper-tiny.en, 1 h
# of audio: 792 -> 1030 MiB). A small cache keeps it flat at no measured speed cost (bench/RESULTS.md).
# It must be set before oneDNN's first use, so here, before torch is imported.
ONEDNN_CACHE = "8"


def _handle_predict(args: argparse.Namespace) -> int:
    import os
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", ONEDNN_CACHE)
    import numpy as np
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from after.experiments.predict import collect_clips, predict_clips, score_labelled, write_predictions_csv
    from after.training.bundle import load_bundle

    console = Console()
    bundle = load_bundle(args.bundle, device=args.device)
    clips, skipped = collect_clips(args.inputs, segment=args.segment)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task("predict (audio seconds)", total=0)
        preds = predict_clips(bundle, clips, batch_seconds=args.batch_seconds, bucket_s=args.bucket_seconds,
                              keep_embeddings=bool(args.embeddings), normalize_by=args.normalize_by,
                              progress=lambda d, n: bar.update(task, completed=d, total=n))
    preds.skipped = skipped + preds.skipped
    write_predictions_csv(preds, args.output)
    if args.embeddings and preds.embeddings is not None:
        np.save(args.embeddings, preds.embeddings)
    console.print(f"{len(preds.clips)} clip(s) labelled -> {args.output}"
                  + (f"; embeddings -> {args.embeddings}" if args.embeddings else ""))
    if preds.cropped:
        console.print(f"{preds.cropped} clip(s) longer than {bundle.max_clip_s:g} s were cropped to it "
                      "(use --segment vad or fixed for long recordings)")
    _print_report(console, score_labelled(preds), preds.classes)
    if preds.skipped:
        console.print(f"[bold]skipped {len(preds.skipped)} file(s) that could not be read:[/bold]")
        for path, why in preds.skipped:
            console.print(f"  {path}: {why}", markup=False)
    return 0 if preds.clips else 2


def _print_report(console, report: dict | None, classes: list[str]) -> None:
    from rich.table import Table
    if report is None:
        return
    if report.get("n_unknown"):
        console.print(f"{report['n_unknown']} labelled clip(s) have labels outside the model's classes "
                      f"({', '.join(report['unknown_labels'])}); not scored")
    if not report["n"]:
        return
    console.print(f"labelled clips: {report['n']}   UA {report['ua']:.3f}   WA {report['wa']:.3f}")
    table = Table(title="confusion (rows: true, columns: predicted)")
    table.add_column("")
    for c in classes:
        table.add_column(c, justify="right")
    for c, row in zip(classes, report["confusion"]):
        table.add_row(c, *(str(int(v)) for v in row))
    console.print(table)


def _handle_export(args: argparse.Namespace) -> int:
    from after.export.onnx import check_onnx, export_onnx
    from after.training.bundle import load_bundle

    bundle = load_bundle(args.bundle, device="cpu")
    path = export_onnx(bundle, args.onnx)
    print(f"exported {bundle.kind} model ({len(bundle.classes)} classes: {', '.join(bundle.classes)}) -> {path}")
    if args.check:
        diff = check_onnx(bundle, path)
        print(f"onnxruntime against PyTorch on a test signal: max |p difference| {diff:.2e}")
    return 0
