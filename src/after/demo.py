"""``python -m after.demo`` (what ``make demo`` runs): ``after run configs/demo.yaml -o runs/demo``.

The paper's whole method on an embedded default: RAVDESS from ``../shared/data/ravdess`` and the genuine
whisper-tiny.en weights from ``../shared/models/whisper-tiny.en`` (paths relative to the project root, as
``configs/demo_al.yaml`` names them). AFTER (TAPT of the encoder on fold 1's training clips, k-means cold
start, entropy acquisition) against FT + Random at three label ratios; the results database, the report
(``runs/demo/report.html``, ``report.md``) and each cell's model bundle land in ``runs/demo/``.

A rerun resumes: finished cells and the finished TAPT encoder are reused.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

from rich.console import Console

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONFIG = PROJECT_ROOT / "configs" / "demo.yaml"
AL_CONFIG = PROJECT_ROOT / "configs" / "demo_al.yaml"
SHARED_RAVDESS = PROJECT_ROOT.parent / "shared" / "data" / "ravdess"
SHARED_MODEL = PROJECT_ROOT.parent / "shared" / "models" / "whisper-tiny.en"
RUN_DIR = PROJECT_ROOT / "runs" / "demo"


def missing_inputs(corpus_root: Path = SHARED_RAVDESS, model: Path = SHARED_MODEL) -> list[str]:
    """What the demo needs and lacks: one paragraph per missing input, saying where to get it."""
    needs = []
    if not corpus_root.is_dir():
        needs.append(f"RAVDESS (speech, 24 actors, 1440 clips) at {corpus_root}: download "
                     "Audio_Speech_Actors_01-24.zip from https://zenodo.org/records/1188976, unzip it, and "
                     f"point data.corpora (ravdess=PATH) in {AL_CONFIG} at the folder.")
    if not model.is_dir():
        needs.append(f"whisper-tiny.en weights at {model}: a local copy of openai/whisper-tiny.en from the "
                     "Hugging Face hub (e.g. `huggingface-cli download openai/whisper-tiny.en --local-dir "
                     f"DIR`), then point learner.backbone in {AL_CONFIG} at DIR (the TAPT stage adapts the "
                     "same encoder).")
    return needs


def main(run_dir: Path = RUN_DIR, config: Path = CONFIG) -> int:
    from after.cli import main as cli

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    console = Console(highlight=False, soft_wrap=True)
    if config == CONFIG:
        needs = missing_inputs(SHARED_RAVDESS, SHARED_MODEL)
        if needs:
            console.print("The demo needs inputs that are absent:")
            for n in needs:
                console.print(f"- {n}")
            console.print(f"Then run `make demo` again (or `after run {config} -o {run_dir}`).")
            return 0
    console.print(f"after run {config} -o {run_dir}  (AFTER against FT + Random, RAVDESS fold 1, "
                  "whisper-tiny.en; a few minutes on 2 CPU cores)")
    return cli(["run", str(config), "-o", str(run_dir)])


if __name__ == "__main__":
    sys.exit(main())
