"""Metrics (numpy only) and cross-validated experiments."""
from after.evaluation.metrics import (confusion_matrix, macro_f1, summarize, unweighted_accuracy,
                                      weighted_accuracy)

__all__ = ["confusion_matrix", "macro_f1", "summarize", "unweighted_accuracy", "weighted_accuracy"]
