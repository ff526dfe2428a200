"""Task-adaptive pre-training (TAPT, AFTER section 3.2): continue an encoder's self-supervised training on
the unlabelled task audio before any label is bought.

- :class:`TaptConfig` (:mod:`after.tapt.config`): data, masking, the weighted terms of Eq. 3, optimiser.
- :class:`TaptModel` (:mod:`after.tapt.model`): backbone + training-only heads; ``loss(waves, seed)``.
- :class:`TaptTrainer` (:mod:`after.tapt.trainer`): resumable loop, ``checkpoint.pt``, ``steps.jsonl``.
- :mod:`after.tapt.objectives`: the loss terms on plain tensors; :mod:`after.tapt.quantizer`: BEST-RQ;
  :mod:`after.tapt.units`: k-means units of the frozen original (HuBERT's targets).
- Orchestration (run directory, pool, output folder): :func:`after.experiments.tapt.run_tapt`.
"""
from after.tapt.config import MaskConfig, ObjectiveConfig, OptimConfig, TaptConfig

__all__ = ["MaskConfig", "ObjectiveConfig", "OptimConfig", "TaptConfig"]
