"""Per-evaluator labels kept by the recipes (IEMOCAP's ``evaluator_labels`` column), as votes over classes."""
from __future__ import annotations

import json
from typing import Sequence

from after.data.labels import LABEL_MAPS, normalise_emotion
from after.data.manifest import Utterance


def evaluator_votes(utt: Utterance, classes: Sequence[str], label_map: str = "4class") -> tuple[str, ...]:
    """One vote per evaluator: the first of their labels that maps into ``classes``.

    ``evaluator_labels`` holds a JSON list of ``{"evaluator": ..., "labels": [...]}``. Evaluators whose labels
    all fall outside ``classes`` cast no vote; with no vote at all the utterance's own label is the one vote.
    """
    raw = utt.extra.get("evaluator_labels", "")
    if not raw:
        return (utt.emotion,)
    try:
        entries = json.loads(raw)
    except json.JSONDecodeError:
        raise ValueError(f"utterance {utt.id}: evaluator_labels is not valid JSON ({raw[:60]!r}); "
                         "re-run `after prepare` on the corpus") from None
    lmap = LABEL_MAPS[label_map]
    votes = []
    for entry in entries:
        for label in entry.get("labels", []):
            target = lmap.target(normalise_emotion(label))
            if target in classes:
                votes.append(target)
                break
    return tuple(votes) or (utt.emotion,)
