"""Corpora -> manifest -> folds -> audio. Needs only numpy, soundfile and soxr."""
