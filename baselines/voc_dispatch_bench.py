"""Why VOC's ``_object_fields`` reads an <object>'s children with an elif chain.

`duplicates` lists the chain as a same-shape run; a {tag: text} dict read back with
``.get`` is the obvious shorter form. This times both on the real objects of BCCD and
raccoon (repeated to ~200k), in CPU seconds (the machine is shared), and checks that they
agree on every object.

    .venv/bin/python baselines/voc_dispatch_bench.py   # ~10 s
"""
from __future__ import annotations

import glob
import os
import sys
import time
from pathlib import Path

from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from annokit.formats.voc.parse import _add_child, _attributes, _object_fields, _value  # noqa: E402

DATASETS = Path(os.environ.get("ANNOKIT_SHARED", "/work/shared")) / "datasets"
PLAIN = frozenset(("name", "pose", "truncated", "difficult", "occluded"))
TARGET = 200_000


def by_dict(element):
    """The same fields through a dict of texts (a second <bndbox> gives ''s, as the chain)."""
    texts: dict = {}
    score = extra = box = None
    for e in element:
        t = e.tag
        if t in PLAIN:
            texts[t] = e.text
        elif t == "bndbox":
            box = {c.tag: c.text for c in e} if box is None else dict.fromkeys(
                ("xmin", "ymin", "xmax", "ymax"), "")
        elif t == "score" or t == "confidence":
            score = (t, e.text)
        elif type(t) is str:
            extra = _add_child(extra, t, _attributes(e) if t == "attributes" else _value(e))
    g, b = texts.get, (box or {}).get
    return (g("name"), g("pose"), g("truncated"), g("difficult"), g("occluded"), score,
            b("xmin"), b("ymin"), b("xmax"), b("ymax"), extra)


def main() -> None:
    files = [f for d in ("bccd", "raccoon")
             for f in glob.glob(str(DATASETS / d / "**" / "*.xml"), recursive=True)]
    objects = [o for f in files for o in etree.parse(f).getroot().iter("object")]
    assert all(_object_fields(o) == by_dict(o) for o in objects), "the two disagree"
    many = objects * max(1, TARGET // len(objects))
    print(f"{len(objects):,} objects in {len(files):,} files, timed as {len(many):,}; "
          f"load average {os.getloadavg()[0]:.1f}")
    for _ in range(3):
        for fn in (_object_fields, by_dict):
            start = time.process_time()
            for o in many:
                fn(o)
            print(f"  {fn.__name__:15} {time.process_time() - start:.3f} s CPU")


if __name__ == "__main__":
    main()
