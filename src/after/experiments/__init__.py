"""Experiments that wire the stages together (config -> data -> features -> learner -> loop -> run dir)."""
