"""YOLO text labels: Ultralytics ``data.yaml``, Roboflow and Darknet ``obj.data`` layouts.

One label file per image, one object per line, numbers normalised by the image size:

    class cx cy w h              a box
    class cx cy w h score        a box with a confidence (predictions)
    class x1 y1 x2 y2 ... xn yn  a polygon, n >= 3 (``task: segment``); + score when even
    class cx cy w h kpts...      a pose line when ``data.yaml`` has ``kpt_shape``

Labels are found by Ultralytics' rule: the image path with its last ``/images/`` replaced
by ``/labels/`` and its extension by ``.txt`` (so beside the image when there is no
``images`` folder, as in Darknet). Image sizes come from the image headers.

Class index ``k`` becomes category id ``k + 1`` (never 0), unless ``data.yaml`` carries
``annokit_category_ids`` (written by :func:`write`), which restores the original ids.

Example:
    >>> import annokit
    >>> ds = annokit.read("fixtures/yolo/ultralytics", "yolo")    # doctest: +SKIP
    >>> annokit.write(ds, "out/yolo", "yolo", images="link")      # doctest: +SKIP

The package keeps discovery (``discover``), parsing (``parse``) and writing (``writer``)
apart; this module is their public face.
"""
from __future__ import annotations

from .discover import detect, label_path
from .parse import read
from .writer import write

__all__ = ["detect", "label_path", "read", "write"]
