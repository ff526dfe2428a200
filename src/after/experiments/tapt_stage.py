"""The grid's TAPT stage: one adapted encoder per fold, shared by every TAPT cell of that fold.

A grid config's ``tapt:`` section names an ``after tapt`` config (``config``, relative to the grid file)
and/or ``--set`` style ``overrides``. For fold k the stage runs ``after tapt`` in its fold mode on the
cells' own data (the ``after al`` config's ``data:`` section) with ``fold: k``: only fold k's training
clips are read, never its validation or test clips. The encoder adapted is the cells' encoder
(``learner.backbone`` of the ``after al`` config); the TAPT config's ``backbone``, ``data`` and ``fold``
are replaced by those.

TAPT reads no label, so rows that the cells' label map drops (e.g. RAVDESS's calm under ``4class``) are
adapted on too when they belong to the fold's training speakers; ``max_pool`` of the cells does not
shrink the TAPT pool (``max_clips`` in the TAPT config does).

The seconds each TAPT cell records are ``tapt.json``'s ``train_s``: the adaptation's wall time in the process
that finished it (after a kill and resume, only the resumed part).

Run directory of fold k: ``RUN_DIR/tapt/fold<k>/`` (an ``after tapt`` run directory: resumable after a
kill, returned at once when finished; its ``backbone/`` is what the fold's TAPT cells load).
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml

from after.atomic import atomic_write_text
from after.config import ConfigError, config_to_dict, load_config, resolve_path

log = logging.getLogger(__name__)

Progress = Callable[[int, int, int, float], None]   # (fold, step, total steps, loss)


@dataclass(frozen=True)
class TaptSection:
    """A grid config's ``tapt:`` section."""

    config: str = ""                    # an `after tapt` config, relative to the grid file ("" : the defaults)
    overrides: tuple[str, ...] = ()     # --set style key=value pairs on top of it, e.g. steps=20

    @property
    def given(self) -> bool:
        return bool(self.config or self.overrides)


def section_config(section: TaptSection, grid_path: str | Path | None):
    """The ``tapt:`` section as a TaptConfig: its ``config`` file (relative to the grid file) + ``overrides``."""
    from after.tapt.config import TaptConfig
    tapt_path = resolve_path(section.config, grid_path).resolve() if section.config else None
    if tapt_path is not None and not tapt_path.is_file():
        raise ConfigError(f"tapt.config: {tapt_path} not found; name an `after tapt` config relative to the "
                          "grid file (see configs/tapt_whisper_tiny.yaml)")
    return load_config(TaptConfig, tapt_path, list(section.overrides))


def make_tapt_stage(section: TaptSection, grid_path: str | Path | None, al_path: str | Path,
                    al_overrides: list[str], progress: Progress | None = None):
    """The grid's ``tapt_stage(fold, folder) -> TaptEncoder`` for a ``tapt:`` section."""
    from after.data.sources import resolved
    from after.experiments.active import ALConfig

    base = section_config(section, grid_path)
    al = load_config(ALConfig, al_path, al_overrides)
    local = resolve_path(al.learner.backbone, al_path)
    backbone = str(local.resolve()) if local.exists() else al.learner.backbone
    data = resolved(al.data, al_path)

    def stage(fold: int, folder: Path):
        from after.experiments.grid import TaptEncoder
        from after.experiments.tapt import BACKBONE_DIR, run_tapt

        cfg = dataclasses.replace(base, backbone=backbone, data=data, fold=int(fold))
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        config = folder.parent / f"fold{fold}.yaml"     # the resolved TAPT config of this fold, as run
        atomic_write_text(config, yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
        log.info("TAPT of %s on fold %d's training clips -> %s", backbone, fold, folder)
        step = (lambda s, total, loss: progress(fold, s, total, loss)) if progress else None
        record = run_tapt(config, [], folder, progress=step)
        return TaptEncoder(backbone=str(folder / BACKBONE_DIR), seconds=float(record.get("train_s", 0.0)))

    return stage
