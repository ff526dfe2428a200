"""Group-independent cross-validation folds, and import of EmoBox's published folds.

Test folds are disjoint in the group (speaker or session), so no voice is heard in training and test;
validation sets are whole training groups too. Same manifest and seed -> same folds. Folds are numbered
from 1, as EmoBox numbers them and as IEMOCAP numbers its sessions.
"""
from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from after.data.folds import Fold
from after.data.manifest import Manifest

log = logging.getLogger(__name__)

GroupBy = Literal["speaker", "session"]


def groups_of(manifest: Manifest, by: GroupBy) -> list[str]:
    """The group of every row, shape ``[n_utterances]``; raises if a row has none."""
    if by not in ("speaker", "session"):
        raise ValueError(f"--by must be speaker or session, got {by!r}")
    groups = [getattr(u, by) for u in manifest]
    missing = [u.id for u, g in zip(manifest, groups) if not g]
    if missing:
        raise ValueError(f"{len(missing)} utterance(s) have no {by} (e.g. {missing[0]}); "
                         f"keep speakers apart instead (split --by speaker; data.split_by: speaker in an experiment), "
                         f"or prepare a corpus that records {by}s")
    return groups


def assign_test_groups(sizes: Counter, n_folds: int, rng: np.random.Generator) -> list[list[str]]:
    """Greedy balancing: largest group first into the fold with the fewest utterances so far.

    Groups of equal size are ordered by ``rng``, which is what the seed changes. With as many folds as
    groups each fold is one group, in sorted order (leave-one-group-out: fold 1 = Session1).
    """
    names = sorted(sizes)
    if n_folds == len(names):
        return [[g] for g in names]
    order = [names[i] for i in rng.permutation(len(names))]
    order.sort(key=lambda g: -sizes[g])  # stable: ties keep the shuffled order
    folds: list[list[str]] = [[] for _ in range(n_folds)]
    load = [0] * n_folds
    for g in order:
        k = min(range(n_folds), key=lambda i: (load[i], i))
        folds[k].append(g)
        load[k] += sizes[g]
    return folds


def pick_validation_groups(train_groups: Sequence[str], sizes: Counter, val_fraction: float,
                           rng: np.random.Generator) -> list[str]:
    """Whole groups, at least one, summing close to ``val_fraction`` of the training utterances."""
    if val_fraction <= 0:
        return []
    if len(train_groups) < 2:
        raise ValueError(f"only {len(train_groups)} training group(s) left in a fold: cannot hold out a "
                         "validation group; use fewer folds or a validation fraction of 0 "
                         "(split --val-fraction 0, or data.val_fraction: 0)")
    target = val_fraction * sum(sizes[g] for g in train_groups)
    names = sorted(train_groups)
    chosen: list[str] = []
    total = 0
    for i in rng.permutation(len(names)):
        if len(chosen) == len(names) - 1:  # keep at least one group to train on
            break
        g = names[i]
        if not chosen or abs(total + sizes[g] - target) < abs(total - target):
            chosen.append(g)
            total += sizes[g]
    return chosen


def split_by_group(manifest: Manifest, by: GroupBy = "speaker", n_folds: int = 5, val_fraction: float = 0.1,
                   seed: int = 0) -> list[Fold]:
    """``n_folds`` folds whose test sets are disjoint in ``by`` and cover every row exactly once.

    Validation groups are drawn from each fold's training groups only (``val_fraction`` of its training
    utterances, approximately, whole groups). ``n_folds`` equal to the number of groups is
    leave-one-group-out, e.g. IEMOCAP leave-one-session-out with ``by="session", n_folds=5``.
    """
    if seed < 0:
        raise ValueError(f"--seed must be >= 0, got {seed}")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    groups = groups_of(manifest, by)
    sizes = Counter(groups)
    if n_folds < 2:
        raise ValueError(f"--folds must be at least 2, got {n_folds}")
    if n_folds > len(sizes):
        if len(sizes) < 2:
            raise ValueError(f"cannot make {by}-independent folds from {len(sizes)} {by}: they need at least "
                             f"2 {by}s")
        raise ValueError(f"cannot make {n_folds} {by}-independent folds from {len(sizes)} {by}(s); "
                         f"use --folds {len(sizes)} or fewer ({len(sizes)} = leave-one-{by}-out; "
                         "data.n_folds in an experiment config)")
    rng = np.random.default_rng(seed)
    test_groups = assign_test_groups(sizes, n_folds, rng)
    folds = []
    for k, tests in enumerate(test_groups, start=1):
        test_set = set(tests)
        train_groups = [g for g in sorted(sizes) if g not in test_set]
        val_set = set(pick_validation_groups(train_groups, sizes, val_fraction, np.random.default_rng([seed, k])))
        split = ["test" if g in test_set else "val" if g in val_set else "train" for g in groups]
        folds.append(Fold(k, *(tuple(u.id for u, s in zip(manifest, split) if s == name)
                               for name in ("train", "val", "test"))))
        log.debug("fold %d: test %s, val %s", k, sorted(test_set), sorted(val_set))
    return folds


# --- EmoBox -------------------------------------------------------------------------------------------

def _records(path: Path) -> list[dict]:
    """An EmoBox split file: JSON lines (``.jsonl``) or one JSON object keyed by utterance (``.json``)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    data = json.loads(text)
    return list(data.values()) if isinstance(data, dict) else list(data)


def _split_file(fold_dir: Path, split: str) -> Path | None:
    for ext in ("jsonl", "json"):
        hits = sorted(fold_dir.glob(f"*_{split}_fold_*.{ext}"))
        if hits:
            return hits[0]
    return None


class _Matcher:
    """EmoBox record -> our utterance id, by id, by ``<corpus>-<stem>`` key, or by audio file name."""

    def __init__(self, manifest: Manifest):
        self.ids = set(manifest.ids)
        stems: dict[str, list[str]] = {}
        for u in manifest:
            stems.setdefault(Path(u.path).stem, []).append(u.id)
        self.stems = {s: v[0] for s, v in stems.items() if len(v) == 1}

    def __call__(self, rec: dict) -> str | None:
        key = str(rec.get("key", ""))
        for cand in (key, key.replace("-", "_", 1)):
            if cand in self.ids:
                return cand
        wav = str(rec.get("wav") or rec.get("audio") or "")
        return self.stems.get(Path(wav.replace("\\", "/")).stem) if wav else None


def import_emobox(fold_root: str | Path, manifest: Manifest, by: GroupBy = "speaker", val_fraction: float = 0.1,
                  seed: int = 0) -> list[Fold]:
    """Read EmoBox folds (``<fold_root>/fold_N/<dataset>_{train,test[,valid]}_fold_N.jsonl``) as our folds.

    Records are matched to manifest rows by id, by EmoBox key (``ravdess-03-01-...``) or by file name;
    unmatched records are logged and left out. Without an EmoBox ``valid`` file, validation groups are
    drawn from each fold's training groups as in :func:`split_by_group`.
    """
    root = Path(fold_root)
    fold_dirs = sorted((p for p in root.glob("fold_*") if p.is_dir()), key=lambda p: int(p.name.split("_")[1]))
    if not fold_dirs:
        raise FileNotFoundError(f"{root}: no fold_N folders; point --from-emobox at EmoBox's data/<dataset> folder")
    match = _Matcher(manifest)
    groups = dict(zip(manifest.ids, groups_of(manifest, by)))
    folds = []
    for fold_dir in fold_dirs:
        k = int(fold_dir.name.split("_")[1])
        ids: dict[str, list[str]] = {}
        for split, emobox_name in (("train", "train"), ("test", "test"), ("val", "valid")):
            path = _split_file(fold_dir, emobox_name)
            if path is None:
                if split != "val":
                    raise FileNotFoundError(f"{fold_dir}: no {emobox_name} file (*_{emobox_name}_fold_{k}.jsonl)")
                continue
            recs = _records(path)
            found = [match(r) for r in recs]
            lost = [str(r.get("key") or r.get("wav")) for r, f in zip(recs, found) if f is None]
            if lost:
                log.warning("%s: %d of %d record(s) match no manifest row and are left out, e.g. %s",
                            path, len(lost), len(recs), lost[0])
            ids[split] = [f for f in found if f is not None]
            if not ids[split]:
                raise ValueError(f"{path}: none of its {len(recs)} records matches the manifest "
                                 "(were the folds made for another corpus?)")
        if "val" not in ids:
            train_groups = sorted({groups[i] for i in ids["train"]})
            sizes = Counter(groups[i] for i in ids["train"])
            val_groups = set(pick_validation_groups(train_groups, sizes, val_fraction,
                                                    np.random.default_rng([seed, k])))
            ids["val"] = [i for i in ids["train"] if groups[i] in val_groups]
            ids["train"] = [i for i in ids["train"] if groups[i] not in val_groups]
        folds.append(Fold(k, tuple(ids["train"]), tuple(ids["val"]), tuple(ids["test"])))
    covered = {i for f in folds for i in f.test}
    if len(covered) < len(manifest):
        log.warning("%d manifest row(s) are in no EmoBox test fold", len(manifest) - len(covered))
    return folds
