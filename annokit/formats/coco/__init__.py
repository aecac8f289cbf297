"""COCO detection JSON: read and write ground truth and results files.

Layouts read:

- one ``.json`` file, images beside it, in ``images/`` beside it, or under ``image_root``
  (``annotations/instances_val2017.json`` also finds ``val2017/`` next to ``annotations/``);
- a folder with ``annotations.json`` (what :func:`write` makes when there are no splits);
- a folder with ``annotations/*.json``, one file per split (``instances_train.json`` is split
  ``train``), images in ``images/<split>/``, ``images/`` or ``<split>/``;
- Roboflow: a folder per split holding ``_annotations.coco.json`` among its images
  (or one such folder on its own);
- a results file: a top-level list of ``{image_id, category_id, bbox, score}`` (predictions).

Layouts written: ``annotations.json`` (no splits) or ``annotations/instances_<split>.json``, images
under ``images/`` or ``images/<split>/``; a target ending in ``.json`` gets that file only.
``layout="roboflow"`` writes ``<split>/_annotations.coco.json`` among the images instead.

Everything a COCO file holds survives a round trip: ids (gaps, huge ones), polygons, RLE
in both forms (kept exactly as given), ``iscrowd``, ``area``, keypoints, unknown keys on
images, annotations and categories (pass-through columns), and ``info``, ``licenses`` and
unknown top-level keys (``meta['coco']``).

The package keeps discovery (``discover``), parsing (``parse``) and writing (``writer``)
apart; this module is their public face.
"""
from __future__ import annotations

from .discover import detect
from .parse import read, read_results
from .writer import areas, to_dict, write

__all__ = ["areas", "detect", "read", "read_results", "to_dict", "write"]
