"""Active learning: pool, oracles, initial-set selection and acquisition strategies.

Only numpy, scipy and scikit-learn: strategies score arrays the loop supplies, never models.
"""
from after.al.coldstart import COLD_STARTS, ColdStart
from after.al.oracles import FileOracle, LabelsPending, MultiAnnotatorOracle, Oracle, SimulatedOracle
from after.al.pool import LabelPool
from after.al.strategies import STRATEGIES, PoolView, Selection, Strategy

__all__ = ["COLD_STARTS", "ColdStart", "FileOracle", "LabelPool", "LabelsPending", "MultiAnnotatorOracle", "Oracle",
           "PoolView", "STRATEGIES", "Selection", "SimulatedOracle", "Strategy"]
