"""Per-evaluator labels kept by the recipes (IEMOCAP's ``evaluator_labels`` column), as votes over classes."""
from __future__ import annotations

import json
from typing import Sequence

from after.data.labels import LABEL_MAPS, LabelMap, normalise_emotion
from after.data.manifest import Utterance


def evaluator_votes(utt: Utterance, classes: Sequence[str], label_map: str | LabelMap = "4class",
                    keyed: bool = False) -> tuple[str, ...]:
    """One vote per evaluator, through the run's ``label_map`` (a :class:`LabelMap` or a built-in name).

    ``evaluator_labels`` holds a JSON list of ``{"evaluator": ..., "labels": [...]}``. An evaluator who gave
    several labels that map into ``classes`` casts them all, joined by ``;`` (``"sad;neutral"``: AFTER
    Eq. 17 counts each as a vote). ``keyed``: each vote is prefixed by its evaluator id (``"C-E2:sad"``) so
    annotator heads are keyed by the evaluator, not by the vote's position. Evaluators whose labels all fall
    outside ``classes`` cast no vote; with no vote at all the utterance's own label is the one vote.
    """
    raw = utt.extra.get("evaluator_labels", "")
    if not raw:
        return (utt.emotion,)
    try:
        entries = json.loads(raw)
    except json.JSONDecodeError:
        raise ValueError(f"utterance {utt.id}: evaluator_labels is not valid JSON ({raw[:60]!r}); "
                         "re-run `after prepare` on the corpus") from None
    lmap = LABEL_MAPS[label_map] if isinstance(label_map, str) else label_map
    votes = []
    for n, entry in enumerate(entries):
        mapped = [lmap.target(normalise_emotion(label)) for label in entry.get("labels", [])]
        inside = list(dict.fromkeys(t for t in mapped if t in classes))
        if inside:
            vote = ";".join(inside)
            votes.append(f"{entry.get('evaluator', f'evaluator_{n + 1}')}:{vote}" if keyed else vote)
    return tuple(votes) or (utt.emotion,)
