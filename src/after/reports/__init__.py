"""Run-directory artefacts: predictions CSV, metrics JSON, confusion-matrix figure."""
from after.reports.run_files import plot_confusion, write_json, write_predictions

__all__ = ["plot_confusion", "write_json", "write_predictions"]
