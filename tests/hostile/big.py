"""Large hostile inputs, made at test time (never stored): a VOC file of ~100 MB and a
labels.txt of 100,000 names. Used by ``test_hostile_big.py`` and ``baselines/hostile_bench.py``.
"""
from __future__ import annotations

from pathlib import Path

OBJECT = ("<object><name>c{k}</name><pose>Unspecified</pose><truncated>0</truncated>"
          "<difficult>0</difficult><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>30</xmax>"
          "<ymax>40</ymax></bndbox></object>\n")


def huge_voc(root: Path, megabytes: float = 100) -> Path:
    """``root/Annotations/a.xml``: one image with ~9,300 objects per MB; return root."""
    (root / "Annotations").mkdir(parents=True, exist_ok=True)
    per_object = len(OBJECT.format(k=0))
    n = int(megabytes * (1 << 20) / per_object)
    block = "".join(OBJECT.format(k=k) for k in range(5)) * 1000
    with open(root / "Annotations" / "a.xml", "w") as f:
        f.write("<annotation><filename>a.jpg</filename><size><width>100</width>"
                "<height>100</height><depth>3</depth></size>\n")
        for _ in range(n // 5000):
            f.write(block)
        f.write("</annotation>\n")
    return root


def many_labels(root: Path, n: int = 100_000, images: int = 50) -> Path:
    """A VOC root whose labels.txt names ``n`` classes, with a few small XML files."""
    (root / "Annotations").mkdir(parents=True, exist_ok=True)
    (root / "labels.txt").write_text("".join(f"class{i}\n" for i in range(n)))
    for j in range(images):
        objects = "".join(
            f"<object><name>class{(j * 997 + k * 31) % n}</name><bndbox><xmin>1</xmin>"
            "<ymin>2</ymin><xmax>30</xmax><ymax>40</ymax></bndbox></object>" for k in range(20))
        (root / "Annotations" / f"a{j}.xml").write_text(
            f"<annotation><filename>a{j}.jpg</filename><size><width>100</width><height>100"
            f"</height><depth>3</depth></size>{objects}</annotation>")
    return root
