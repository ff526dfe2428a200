"""The grid's method table: a CLI name -> what a cell of that method runs.

Adding a method is one entry. TAPT methods (``tapt=True``) need a TAPT encoder per fold: the grid config's
``tapt:`` section (or a ``tapt_stage`` given to :func:`after.experiments.grid.run_grid`); without one the
grid refuses them.
Besides the table, ``FT+<strategy>``, ``FT+<strategy>@<init>`` (and the same behind ``TAPT+``) name any acquisition strategy and cold
start by their registry names (e.g. ``FT+margin@random``).

``GMP-ATL`` is not an active-learning method (``kind="gmpatl"``): a cell of it trains the GMP-ATL pipeline
once on a random share of the fold's pool of that cell's label ratio (drawn with the cell's seed) and has
no rounds; its settings come from the grid config's ``gmpatl:`` section (see
:mod:`after.experiments.gmpatl_cell`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from after.al.coldstart import COLD_STARTS
from after.al.strategies import STRATEGIES
from after.config import ConfigError


@dataclass(frozen=True)
class Method:
    """One grid method: acquisition, cold start, whether the encoder is TAPT-adapted, whether a baseline,
    and what a cell of it runs (``al``: an `after al` run; ``gmpatl``: GMP-ATL on a random labelled share)."""

    strategy: str
    init: str = "kmeans"        # the paper's Table 7: random and entropy sampling share the k-means cold start
    tapt: bool = False
    baseline: bool = True       # the report marks non-baselines that beat the best baseline
    kind: Literal["al", "gmpatl"] = "al"


# what a method without acquisition rounds stores as its strategy (the report shows no curve or pick for it)
NO_ROUNDS = "none"


METHODS: dict[str, Method] = {
    "FT+Random": Method("random"),
    "FT+Entropy": Method("entropy"),
    "TAPT+FT+Random": Method("random", tapt=True),
    # the paper's method: TAPT, k-means cold start, then entropy acquisition with fine-tuning every round
    "AFTER": Method("entropy", "kmeans", tapt=True, baseline=False),
    # Pan et al. 2024: trained once on the labelled data (here a random share of the pool), no rounds
    "GMP-ATL": Method(NO_ROUNDS, "random", baseline=False, kind="gmpatl"),
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
