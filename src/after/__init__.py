"""after: active learning with task-adaptive pre-training for speech emotion recognition."""
__version__ = "0.1.0"
