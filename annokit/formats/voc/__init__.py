"""Pascal VOC XML: one ``<annotation>`` file per image, boxes as ``<object>`` elements.

Layouts read: a VOC root (``Annotations/``, ``JPEGImages/``, ``ImageSets/Main/<split>.txt``;
``annotations/`` + ``images/`` too), a bare folder of XML files, a folder of split folders
with the XML beside the images (Roboflow's export), or one XML file. Layout written: a VOC
root, one XML for every image (those without objects too).

Coordinates: by default ``xmin ymin xmax ymax`` are plain corners in COCO's continuous
space (``x = xmin``, ``w = xmax - xmin``), as CVAT, LabelImg, Roboflow and FiftyOne write
them; ``voc_one_based=True`` reads and writes the official 1-based inclusive pixel indices
(``x = xmin - 1``, ``w = xmax - xmin + 1``). Fractional values are kept, never truncated.

Untrusted input: XML is parsed by lxml without entity expansion, DTD loading or network.

The package keeps discovery (``discover``), parsing (``parse``) and writing (``writer``)
apart; this module is their public face.
"""
from __future__ import annotations

from .discover import detect
from .parse import read
from .writer import escape, write

__all__ = ["detect", "escape", "read", "write"]
