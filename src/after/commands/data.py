"""Data subcommands: ``prepare``, ``merge``, ``split`` and ``summary``.

The only data code that talks to the terminal (rich progress bar and tables); the work is done by
:mod:`after.data`, imported inside the handlers so ``after --help`` stays fast.
"""
from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from rich.console import Console

    from after.data.folds import Fold
    from after.data.manifest import Manifest


def register(sub) -> None:
    p = sub.add_parser("prepare", help="read a corpus into a validated manifest CSV",
                       description="Read a corpus (original public layout, or the shared audio/ + metadata.csv "
                                   "layout) and write a manifest. Every file is checked first.")
    p.add_argument("corpus", help="ravdess, emodb, nemo, turev, iemocap, cremad, savee, tess, shemo, emovdb, "
                                  "folder (one subfolder per label), csv (a table with path,label columns) or "
                                  "audio (unlabelled recordings)")
    p.add_argument("root", type=Path, help="the corpus folder (for csv: the CSV file)")
    p.add_argument("-o", "--output", type=Path, required=True, help="manifest CSV to write")
    p.add_argument("--force", action="store_true", help="overwrite an existing manifest")
    p.add_argument("--on-error", choices=("fail", "skip"), default="fail",
                   help="fail (default): stop listing every bad file; skip: leave bad files out and report them")
    p.add_argument("--labels", default="keep", help="label map: keep (default), 4class, or a YAML file {original: target}")
    p.add_argument("--speaker-regex", help="folder/csv: regex on the relative path; group 'speaker' (or group 1) "
                                           "is the speaker")
    p.add_argument("--corpus-name", help="folder/csv: corpus name used as id prefix (default: the folder/file name)")
    p.add_argument("--language", default="", help="folder/csv: ISO 639-1 language code of the recordings")
    p.add_argument("--allow-outside-root", action="store_true",
                   help="csv: accept files outside the table's folder (refused by default)")
    p.add_argument("--segment", choices=("vad", "fixed", "none"),
                   help="audio: cut recordings by voice activity (Silero VAD), into fixed windows, or not (default)")
    p.add_argument("--window-s", type=float, help="audio --segment fixed: window length in seconds (default 5)")
    p.add_argument("--hop-s", type=float, help="audio --segment fixed: window step in seconds (default: --window-s)")
    p.add_argument("--min-segment-s", type=float, help="audio: shortest segment kept, seconds (default 0.5)")
    p.add_argument("--max-segment-s", type=float, help="audio --segment vad: longest segment, seconds (default 15)")
    p.add_argument("--vad-threshold", type=float,
                   help="audio --segment vad: speech probability above which a 32 ms window is speech (default 0.5)")
    p.set_defaults(handler=_prepare)

    p = sub.add_parser("merge", help="merge manifests of several corpora through a label map")
    p.add_argument("manifests", nargs="+", type=Path, help="manifest CSVs to merge")
    p.add_argument("--labels", default="keep", help="keep (default), 4class, or a YAML file {original: target}")
    p.add_argument("--balance", action="store_true", help="downsample every class to the smallest one (seeded)")
    p.add_argument("--seed", type=int, default=0, help="seed of --balance (default 0)")
    p.add_argument("-o", "--output", type=Path, required=True, help="merged manifest CSV to write")
    p.add_argument("--force", action="store_true", help="overwrite an existing manifest")
    p.set_defaults(handler=_merge)

    p = sub.add_parser("split", help="make speaker- or session-independent folds (id,fold,split CSV)")
    p.add_argument("manifest", type=Path)
    p.add_argument("--by", choices=("speaker", "session"), default="speaker", help="group kept out of training")
    p.add_argument("--folds", type=int, default=5, help="number of folds; = number of groups for leave-one-out")
    p.add_argument("--val-fraction", type=float, default=0.1,
                   help="validation share of each fold's training utterances, as whole groups (0 = none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", type=Path, required=True, help="folds CSV to write")
    p.add_argument("--from-emobox", type=Path, metavar="DIR",
                   help="import EmoBox folds from DIR (EmoBox data/<dataset> holding fold_N/) instead of splitting")
    p.add_argument("--force", action="store_true", help="overwrite an existing folds file")
    p.set_defaults(handler=_split)

    p = sub.add_parser("summary", help="counts per corpus, emotion and speaker, durations, fold sizes")
    p.add_argument("manifest", type=Path)
    p.add_argument("--folds", type=Path, help="a folds CSV made from this manifest (checked against it)")
    p.add_argument("--by", choices=("speaker", "session"), default="speaker",
                   help="with --folds: the group each fold must keep out of training (default speaker)")
    p.set_defaults(handler=_summary)


def _console() -> "Console":
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def _counts(counter: Counter) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items()))


def _refuse_overwrite(path: Path, force: bool, what: str) -> None:
    """The one overwrite rule of prepare, merge and split: an existing output needs --force."""
    if path.is_dir():
        raise ValueError(f"{path} is a folder; give the {what} file to write with -o")
    if path.exists() and not force:
        raise ValueError(f"{path} already exists; it is never silently replaced. Use it as it is, write to "
                         "another -o, or pass --force to overwrite it")


def _print_warnings(console: "Console", manifest: "Manifest") -> None:
    from rich.markup import escape

    from after.data.checks import manifest_warnings

    for warning in manifest_warnings(manifest):
        console.print(f"[yellow]Warning:[/] {escape(warning)}")


def _unlabelled(manifest: "Manifest") -> str:
    n = len(manifest.unlabelled())
    return f" ({n} unlabelled)" if n else ""


def _prepare(args: argparse.Namespace) -> int:
    import inspect

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from after.data.corpora import get_recipe
    from after.data.labels import apply_label_map, load_label_map
    from after.data.manifest import write_manifest

    _refuse_overwrite(args.output, args.force, "manifest")
    recipe = get_recipe(args.corpus)
    label_map = load_label_map(args.labels)
    options = {"speaker_regex": args.speaker_regex, "corpus_name": args.corpus_name, "language": args.language,
               "allow_outside_root": args.allow_outside_root, "segment": args.segment,
               "window_s": args.window_s, "hop_s": args.hop_s, "min_segment_s": args.min_segment_s,
               "max_segment_s": args.max_segment_s, "vad_threshold": args.vad_threshold}
    accepted = inspect.signature(recipe).parameters
    given = {k: v for k, v in options.items() if v not in (None, "", False)}
    refused = [k for k in given if k not in accepted]
    if refused:
        takers = sorted(n for n, r in _recipes().items() if refused[0] in inspect.signature(r).parameters)
        raise ValueError(f"--{refused[0].replace('_', '-')} applies to the {', '.join(takers)} recipe(s) only, "
                         f"not to {args.corpus}")
    console = _console()
    with Progress(TextColumn(f"checking {args.corpus} files"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=console, transient=True,
                  disable=not console.is_terminal) as bar:
        task = bar.add_task("check", total=None)
        result = recipe(args.root, on_error=args.on_error,
                        progress=lambda done, total: bar.update(task, completed=done, total=total), **given)
    manifest, dropped = apply_label_map(result.manifest, label_map)
    if result.skipped:
        console.print(f"[yellow]Skipped {len(result.skipped)} bad file(s)[/] (--on-error skip):")
        for b in result.skipped:
            console.print(f"  {b}", markup=False)
    for note in result.notes:
        console.print(f"[yellow]Note:[/] {note}")
    if dropped:
        console.print(f"Label map {label_map.name} dropped {sum(dropped.values())} utterance(s): {_counts(dropped)}")
    if len(manifest) == 0:
        raise ValueError(f"label map {label_map.name!r} dropped every utterance; nothing written")
    _print_warnings(console, manifest)
    out = write_manifest(manifest, args.output)
    hours = sum(u.duration_s for u in manifest) / 3600
    corpora = sorted({u.corpus for u in manifest})
    name = args.corpus if corpora == [args.corpus] else f"{', '.join(corpora)} ({args.corpus} recipe)"
    console.print(f"Prepared {name}: {len(manifest)} utterances{_unlabelled(manifest)}, "
                  f"{len(manifest.speakers())} speakers, {_emotions(manifest)}, {hours:.2f} h -> {out}")
    return 0


def _emotions(manifest: "Manifest") -> str:
    n = len(manifest.labels())
    return f"{n} emotions" if n or not len(manifest) else "no labels yet (label them with `after al`, oracle: file)"


def _recipes():
    from after.data.corpora import RECIPES

    return RECIPES


def _merge(args: argparse.Namespace) -> int:
    from rich.markup import escape

    from after.data.labels import load_label_map
    from after.data.manifest import read_manifest, write_manifest
    from after.data.merge import merge_manifests

    _refuse_overwrite(args.output, args.force, "manifest")
    label_map = load_label_map(args.labels)
    result = merge_manifests([read_manifest(p) for p in args.manifests], label_map, args.balance, args.seed)
    console = _console()
    for note in result.notes:
        console.print(f"[yellow]Warning:[/] {escape(note)}")
    if result.dropped:
        console.print(f"Label map {label_map.name} dropped {sum(result.dropped.values())} utterance(s): "
                      f"{_counts(result.dropped)}")
    if args.balance:
        console.print(f"Balancing (seed {args.seed}) removed {sum(result.removed_by_balance.values())} "
                      f"utterance(s): {_counts(result.removed_by_balance)}")
    _print_warnings(console, result.manifest)
    out = write_manifest(result.manifest, args.output)
    per_corpus = Counter(u.corpus for u in result.manifest)
    console.print(f"Merged {len(args.manifests)} manifest(s): {len(result.manifest)} utterances"
                  f"{_unlabelled(result.manifest)} ({_counts(per_corpus)}), "
                  f"emotions {', '.join(result.manifest.labels())} -> {out}")
    return 0


def _split(args: argparse.Namespace) -> int:
    from after.data.folds import write_folds
    from after.data.manifest import read_manifest
    from after.data.splits import import_emobox, split_by_group

    if args.output.exists() and not args.force:
        raise ValueError(f"{args.output} already exists; folds are never silently recomputed. "
                              "Use it as it is, write to another -o, or pass --force to overwrite it")
    _refuse_overwrite(args.output, args.force, "folds")
    manifest = read_manifest(args.manifest)
    if args.from_emobox:
        folds = import_emobox(args.from_emobox, manifest, args.by, args.val_fraction, args.seed)
    else:
        folds = split_by_group(manifest, args.by, args.folds, args.val_fraction, args.seed)
    out = write_folds(folds, args.output)
    console = _console()
    print_fold_table(console, manifest, folds, args.by)
    if len(manifest.unlabelled()):
        console.print(f"{len(manifest.unlabelled())} unlabelled row(s) are placed by their {args.by}, like the "
                      "labelled ones; column 'unlabelled' counts them in train/val/test")
    console.print(f"Wrote {len(folds)} folds -> {out}")
    return 0


def _summary(args: argparse.Namespace) -> int:
    from after.data.folds import check_folds, read_folds
    from after.data.manifest import read_manifest

    manifest = read_manifest(args.manifest)
    folds = read_folds(args.folds) if args.folds else None
    if folds is not None:
        check_folds(folds, manifest, by=args.by, source=args.folds)
    print_summary(_console(), manifest, folds, by=args.by)
    return 0


def print_summary(console: "Console", manifest: "Manifest", folds: Sequence["Fold"] | None = None,
                  by: str = "speaker") -> None:
    """Tables: per corpus, per emotion (by corpus), per speaker, and per fold when ``folds`` are given."""
    from rich.table import Table

    from after.data.checks import label_counts

    corpora = sorted({u.corpus for u in manifest})
    t = Table(title=f"{manifest.source or 'manifest'}: {len(manifest)} utterances ({label_counts(manifest)})")
    for col in ("corpus", "utterances", "speakers", "hours", "mean s", "min s", "max s"):
        t.add_column(col, justify="left" if col == "corpus" else "right")
    for c in corpora + (["all"] if len(corpora) > 1 else []):
        rows = [u for u in manifest if c in ("all", u.corpus)]
        d = [u.duration_s for u in rows]
        t.add_row(c, str(len(rows)), str(len({u.speaker for u in rows})), f"{sum(d) / 3600:.2f}",
                  f"{sum(d) / len(d):.2f}", f"{min(d):.2f}", f"{max(d):.2f}")
    console.print(t)

    t = Table(title="emotions")
    t.add_column("emotion")
    for c in corpora:
        t.add_column(c, justify="right")
    t.add_column("total", justify="right")
    per = Counter((u.emotion, u.corpus) for u in manifest)
    for e in manifest.labels() + (["(unlabelled)"] if len(manifest.unlabelled()) else []):
        row = [per[(e if e != "(unlabelled)" else "", c)] for c in corpora]
        t.add_row(e, *map(str, row), f"{sum(row)} ({100 * sum(row) / len(manifest):.1f}%)")
    console.print(t)

    t = Table(title="speakers")
    for col in ("speaker", "gender", "utterances", "emotions"):
        t.add_column(col, justify="right" if col == "utterances" else "left")
    for spk in manifest.speakers():
        rows = [u for u in manifest if u.speaker == spk]
        t.add_row(spk, rows[0].gender, str(len(rows)), str(len({u.emotion for u in rows})))
    console.print(t)
    if folds:
        print_fold_table(console, manifest, folds, by)


def print_fold_table(console: "Console", manifest: "Manifest", folds: Sequence["Fold"], by: str) -> None:
    from rich.table import Table

    group = {u.id: getattr(u, by) or u.speaker for u in manifest}
    t = Table(title=f"folds ({by}-independent)")
    unlabelled = {u.id for u in manifest.unlabelled()}
    cols = ("fold", "train", "val", "test", f"test {by}s", f"val {by}s") + (("unlabelled",)
                                                                             if unlabelled else ())
    for col in cols:
        t.add_column(col, justify="right")
    for f in folds:
        test_groups = sorted({group[i] for i in f.test if i in group})
        val_groups = sorted({group[i] for i in f.val if i in group})
        shown = ", ".join(test_groups) if len(test_groups) <= 3 else f"{len(test_groups)}"
        extra = ("/".join(str(sum(i in unlabelled for i in f.ids(s))) for s in ("train", "val", "test")),) \
            if unlabelled else ()
        t.add_row(str(f.index), str(len(f.train)), str(len(f.val)), str(len(f.test)), shown, str(len(val_groups)),
                  *extra)
    console.print(t)
