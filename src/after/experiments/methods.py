"""The grid's method table: a CLI name -> what a cell of that method runs.

Adding a method is one entry. TAPT methods (``tapt=True``) need a TAPT encoder per fold: the grid config's
``tapt:`` section (or a ``tapt_stage`` given to :func:`after.experiments.grid.run_grid`); without one the
grid refuses them.
Besides the table, ``FT+<strategy>``, ``FT+<strategy>@<init>`` (and the same behind ``TAPT+``) name any acquisition strategy and cold
start by their registry names (e.g. ``FT+margin@random``).
"""
from __future__ import annotations

from dataclasses import dataclass

from after.al.coldstart import COLD_STARTS
from after.al.strategies import STRATEGIES
from after.config import ConfigError


@dataclass(frozen=True)
class Method:
    """One grid method: acquisition, cold start, whether the encoder is TAPT-adapted, whether a baseline."""

    strategy: str
    init: str = "kmeans"        # the paper's Table 7: random and entropy sampling share the k-means cold start
    tapt: bool = False
    baseline: bool = True       # the report marks non-baselines that beat the best baseline


METHODS: dict[str, Method] = {
    "FT+Random": Method("random"),
    "FT+Entropy": Method("entropy"),
    "TAPT+FT+Random": Method("random", tapt=True),
    # the paper's method: TAPT, k-means cold start, then entropy acquisition with fine-tuning every round
    "AFTER": Method("entropy", "kmeans", tapt=True, baseline=False),
}


def resolve_method(name: str) -> Method:
    """A table entry, or ``FT+<strategy>[@<init>]`` built from the strategy and cold-start registries."""
    if name in METHODS:
        return METHODS[name]
    tapt = name.startswith("TAPT+FT+")
    if tapt or name.startswith("FT+"):
        strategy, _, init = name[len("TAPT+FT+" if tapt else "FT+"):].partition("@")
        init = init or "kmeans"
        if strategy.lower() in STRATEGIES and init in COLD_STARTS:
            return Method(strategy.lower(), init, tapt=tapt)
    raise ConfigError(f"method {name!r} is unknown: use one of {sorted(METHODS)} or [TAPT+]FT+<strategy>[@<init>] "
                      f"with a strategy in {sorted(STRATEGIES)} and an init in {sorted(COLD_STARTS)}")
