"""The grid's method table: a CLI name -> what a cell of that method runs.

Adding a method is one entry. TAPT methods (``tapt=True``) need a TAPT encoder per fold; the grid refuses
them until a TAPT stage is given to :func:`after.experiments.grid.run_grid` (``tapt_stage``).
Besides the table, ``FT+<strategy>`` and ``FT+<strategy>@<init>`` name any acquisition strategy and cold
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
}


def resolve_method(name: str) -> Method:
    """A table entry, or ``FT+<strategy>[@<init>]`` built from the strategy and cold-start registries."""
    if name in METHODS:
        return METHODS[name]
    if name.startswith("FT+"):
        strategy, _, init = name[3:].partition("@")
        init = init or "kmeans"
        if strategy.lower() in STRATEGIES and init in COLD_STARTS:
            return Method(strategy.lower(), init)
    raise ConfigError(f"method {name!r} is unknown: use one of {sorted(METHODS)} or FT+<strategy>[@<init>] "
                      f"with a strategy in {sorted(STRATEGIES)} and an init in {sorted(COLD_STARTS)}")
