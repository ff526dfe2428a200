"""Heads, training loops and the Learner API the active-learning loop drives."""
from after.training.config import HeadConfig, ModelConfig, TrainConfig
from after.training.learners import EmbeddingLearner, Learner

__all__ = ["HeadConfig", "ModelConfig", "TrainConfig", "EmbeddingLearner", "Learner"]
