"""Corpus recipes: one ``prepare_<corpus>(root, on_error="fail"|"skip", progress=None) -> PrepareResult``
per corpus, and :data:`RECIPES`, the registry the CLI reads (``after data prepare NAME ROOT``).

Each recipe reads a corpus in its original public layout; the four corpora converted for the project
(RAVDESS, EmoDB, nEMO, TurEV-DB) are also read in that converted layout (``audio/`` + ``metadata.csv``).
"""
from __future__ import annotations

from typing import Callable

from after.data.corpora.audio_pool import prepare_audio
from after.data.corpora.cremad import prepare_cremad
from after.data.corpora.emodb import prepare_emodb
from after.data.corpora.emovdb import prepare_emovdb
from after.data.corpora.folder import prepare_folder
from after.data.corpora.iemocap import prepare_iemocap
from after.data.corpora.nemo import prepare_nemo
from after.data.corpora.ravdess import prepare_ravdess
from after.data.corpora.recipe import BadFile, PrepareError, PrepareResult
from after.data.corpora.savee import prepare_savee
from after.data.corpora.shemo import prepare_shemo
from after.data.corpora.table import prepare_csv
from after.data.corpora.tess import prepare_tess
from after.data.corpora.turev import prepare_turev

RECIPES: dict[str, Callable[..., PrepareResult]] = {
    "ravdess": prepare_ravdess,
    "emodb": prepare_emodb,
    "nemo": prepare_nemo,
    "turev": prepare_turev,
    "iemocap": prepare_iemocap,
    "cremad": prepare_cremad,
    "savee": prepare_savee,
    "tess": prepare_tess,
    "shemo": prepare_shemo,
    "emovdb": prepare_emovdb,
    "folder": prepare_folder,
    "csv": prepare_csv,
    "audio": prepare_audio,
}
# The shared corpora's folder names, so `after data prepare turev_db ../shared/data/turev_db` works too.
ALIASES = {"emodb_crop2s": "emodb", "turev_db": "turev", "crema_d": "cremad", "emov_db": "emovdb"}


def get_recipe(name: str) -> Callable[..., PrepareResult]:
    key = ALIASES.get(name, name)
    if key not in RECIPES:
        raise ValueError(f"unknown corpus {name!r}; known: {', '.join(RECIPES)}")
    return RECIPES[key]


__all__ = ["RECIPES", "ALIASES", "get_recipe", "PrepareResult", "PrepareError", "BadFile"] + [
    f.__name__ for f in RECIPES.values()]
