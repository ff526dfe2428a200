"""GMP-ATL (Pan et al. 2024, arXiv 2405.02151): gender-augmented multi-scale pseudo-label adaptive transfer
learning, and pseudo-TAPT (Chen and Rudnicky) as the same pipeline with the gender task switched off.

Only the paper's abstract is public; every detail below is our choice, set in :mod:`.config`:

1. multi-task fine-tuning on the labelled training clips: emotion and gender as two utterance heads on the
   shared pooled encoder output (unknown gender is masked out of the gender loss); early stopping on the
   fold's validation clips (:func:`.stages.multitask`);
2. frame features of one intermediate layer of that model on the *training* clips only, and multi-scale
   k-means (MiniBatchKMeans, default k = 64, 256, 1024, on a capped sample of frames) whose ids are every
   training frame's pseudo-labels (:mod:`.pseudolabels`);
3. retraining: spans of the encoder's input frames are replaced by a learned mask vector and one linear
   head per scale predicts the masked frames' ids (summed cross-entropy), plus the gender loss weighted by
   ``gender_weight`` (lambda); a fixed number of epochs, since validation clips have no pseudo-labels
   (:func:`.stages.retrain`);
4. utterance-level fine-tuning for emotion with cross-entropy or AM-Softmax, early stopping on validation
   (:func:`.stages.finetune`).

The orchestration (resumable stages, timings, metrics, the saved model) is
:mod:`after.experiments.gmpatl`.
"""
