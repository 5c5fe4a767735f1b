"""Trained networks out of the project: NIR export (and import) of the trainers' models.

``python -m trainers.export --run RUN_DIR --format nir --out model.nir`` (see
:mod:`trainers.export.cli`); from Python :func:`to_nir` / :func:`write_nir` /
:func:`load_nir`. Each method's mapping is in its module (:mod:`.stbp`, :mod:`.firstspike`,
:mod:`.tsslbp`; :mod:`.slayer` states why SLAYER is refused); the shared time-step convention
and graph assembly are in :mod:`.graph`, the run folder is read by :mod:`.run`.
"""

from __future__ import annotations

from trainers.export.api import graph_of, load_nir, to_nir, write_nir
from trainers.export.graph import ExportError

__all__ = ["ExportError", "graph_of", "load_nir", "to_nir", "write_nir"]
