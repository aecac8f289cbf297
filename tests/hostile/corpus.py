"""The hostile-input corpus: one small case per point of issue 7 and per failure found.

Each case builds its input in a folder, runs one ``annokit`` command there and says what
must happen: the exit code, the file the one-line error names, and which paths may
change (the output). ``python tests/hostile/corpus.py OUT`` writes every case's input
to OUT/<case>/ with a ``command.txt``, to replay them by hand.

Large cases (a 100 MB VOC file, 100k class names) are made at test time in
``test_hostile_big.py``; fault injection (kill -9, disk full, signals, two writers) is in
``test_hostile_faults.py``.
"""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[2]
SHAPES = ROOT / "fixtures" / "shapes" / "voc"


@dataclass
class Case:
    name: str
    point: str                       # the issue point it covers, e.g. "7.2"
    build: Callable[[Path], None]    # writes the input under the case folder
    args: tuple                      # the annokit command line, run in the case folder
    code: int = 2
    names: str | None = None         # what the one-line error must name
    says: str | None = None          # and what it must say
    outputs: tuple = ()              # paths that may appear or change
    check: Callable | None = field(default=None, repr=False)  # (folder, out, err) -> None


# -- builders ---------------------------------------------------------------------------

def png(width: int = 8, height: int = 6, colour=(200, 30, 30)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def write(root: Path, files: dict) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, (dict, list)):
            data = json.dumps(data)
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))


def coco_doc(images=None, annotations=None, categories=None) -> dict:
    images = images if images is not None else [
        {"id": 1, "file_name": "a.png", "width": 8, "height": 6}]
    annotations = annotations if annotations is not None else [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 3], "area": 12,
         "iscrowd": 0}]
    categories = categories if categories is not None else [{"id": 1, "name": "cat"}]
    return {"images": images, "annotations": annotations, "categories": categories}


def voc_in(name: str = "in"):
    def build(root: Path) -> None:
        shutil.copytree(SHAPES, root / name)
    return build


def coco_in(file: str = "c.json", **doc):
    def build(root: Path) -> None:
        write(root, {file: coco_doc(**doc), str(Path(file).parent / "a.png"): png()})
    return build


def both(*builders):
    def build(root: Path) -> None:
        for b in builders:
            b(root)
    return build


def symlink(link: str, to: str):
    def build(root: Path) -> None:
        os.symlink(to, root / link)
    return build


def hardlink(link: str, to: str):
    def build(root: Path) -> None:
        os.link(root / to, root / link)
    return build


def folder(rel: str, with_file: bool = False):
    def build(root: Path) -> None:
        (root / rel).mkdir(parents=True, exist_ok=True)
        if with_file:
            (root / rel / "keep.txt").write_text("precious")
    return build


def predictions(root: Path) -> None:
    """pred.csv: the shapes boxes as centre points, through the library."""
    import annokit
    from annokit.points import boxes_to_points

    annokit.write(boxes_to_points(annokit.read(root / "in")), root / "pred.csv", "csv")


def secret_images(root: Path) -> None:
    """data/ann.json names a.png (inside) and an image outside its folder, relative and
    absolute; both outside images exist and look like the inside one."""
    secret = root / "secret"
    write(root, {"secret/private.png": png(40, 30, (9, 9, 9)),
                 "data/a.png": png(40, 30, (9, 9, 9))})
    images = [{"id": 1, "file_name": "a.png", "width": 40, "height": 30},
              {"id": 2, "file_name": "../secret/private.png", "width": 40, "height": 30},
              {"id": 3, "file_name": str(secret / "private.png"), "width": 40, "height": 30}]
    annotations = [{"id": i, "image_id": i, "category_id": 1, "bbox": [2, 2, 20, 20],
                    "area": 400, "iscrowd": 0} for i in (1, 2, 3)]
    annotations += [{"id": 3 + i, "image_id": i, "category_id": 1, "bbox": [30, 20, 20, 20],
                     "area": 400, "iscrowd": 0} for i in (2, 3)]  # flagged: worst images
    write(root, {"data/ann.json": coco_doc(images, annotations)})


# -- checks of what a successful run wrote ------------------------------------------------

def no_secret_crops(root: Path, out: str, err: str) -> None:
    crops = [p for p in (root / "crops").rglob("*") if p.is_file()]
    assert len(crops) == 1, crops  # a.png's box only
    assert err.count("leaves the image folder: never read") == 2, err


def no_secret_thumbnails(root: Path, out: str, err: str) -> None:
    page = (root / "r.html").read_text()
    assert not re.search(r'<img alt="[^"]*private', page), "an outside image was drawn"
    assert "leaves the image folder: never read" in page


def no_secret_hashes(root: Path, out: str, err: str) -> None:
    found = json.loads((root / "r.json").read_text())["findings"]
    assert not [f for f in found if f["check"].startswith("images.") and
                "duplicate" in f["check"]], found


def report_replaced(name: str):
    def check(root: Path, out: str, err: str) -> None:
        assert (root / name).read_text() != "old report"
    return check


def only_train_listed(root: Path, out: str, err: str) -> None:
    listed = (root / "list.txt").read_text().splitlines()
    assert listed and all("train" in p or "shapes_00" in p for p in listed)
    import annokit
    ds = annokit.read(root / "in")
    train = set(ds.images.loc[ds.images["split"] == "train", "file_name"])
    assert {os.path.basename(p) for p in listed} <= train, listed


def split_roots(root: Path) -> None:
    shutil.copytree(SHAPES, root / "in")


# -- the cases ----------------------------------------------------------------------------

NESTED = "[" * 2000 + "]" * 2000

CASES = [
    # 7.1 evaluate --json replaced whatever was at PATH
    Case("evaluate-json-over-input-folder", "7.1", both(voc_in(), predictions),
         ("evaluate", "points", "in", "pred.csv", "--json", "in"),
         names="in", says="refusing to write over or into the input"),
    Case("evaluate-json-over-predictions", "7.1", both(voc_in(), predictions),
         ("evaluate", "points", "in", "pred.csv", "--json", "pred.csv"),
         names="pred.csv", says="refusing to write over or into the input"),
    Case("evaluate-json-inside-input", "7.1", both(voc_in(), predictions),
         ("evaluate", "points", "in", "pred.csv", "--json", "in/m.json"),
         names="in/m.json", says="refusing to write over or into the input"),
    Case("eval-json-over-ground-truth", "7.1", both(voc_in(), predictions),
         ("eval", "in", "pred.csv", "--json", "in/Annotations/shapes_000.xml"),
         names="in/Annotations/shapes_000.xml", says="refusing to write over or into the input"),
    Case("eval-json-over-predictions", "7.1", both(voc_in(), predictions, symlink("p", "pred.csv")),
         ("eval", "in", "pred.csv", "--json", "p"), names="p",
         says="refusing to write over or into the input"),
    Case("evaluate-json-rerun-replaces", "8.14",
         both(voc_in(), predictions, lambda r: (r / "m.json").write_text("old report")),
         ("evaluate", "points", "in", "pred.csv", "--json", "m.json"), code=0,
         outputs=("m.json",), check=report_replaced("m.json")),
    # 7.2 resolved paths, symlinks, hard links, single files, every command
    Case("convert-dotdot-to-input", "7.2", both(voc_in(), folder("x")),
         ("convert", "voc", "voc", "in", "x/../in", "--overwrite"), names="in"),
    Case("convert-symlink-to-input", "7.2", both(voc_in(), symlink("link", "in")),
         ("convert", "voc", "coco", "in", "link", "--overwrite"), names="link",
         says="refusing to write over or into the input"),
    Case("convert-into-symlinked-input", "7.2", both(voc_in(), symlink("link", "in")),
         ("convert", "voc", "coco", "in", "link/sub", "--overwrite"), names="link/sub"),
    Case("convert-holding-the-input", "7.2", voc_in("data/in"),
         ("convert", "voc", "coco", "data/in", "data", "--overwrite"), names="data"),
    Case("convert-coco-file-onto-itself", "7.2", coco_in(),
         ("convert", "coco", "coco", "c.json", "./c.json", "--overwrite"), names="c.json"),
    Case("convert-coco-file-hard-link", "7.2", both(coco_in(), hardlink("h.json", "c.json")),
         ("convert", "coco", "coco", "c.json", "h.json", "--overwrite"), names="h.json",
         says="refusing to write over or into the input"),
    Case("convert-over-image-root", "7.2", both(voc_in(), lambda r: shutil.move(
        r / "in" / "JPEGImages", r / "imgs")),
         ("convert", "voc", "coco", "in", "imgs", "--image-root", "imgs", "--overwrite"),
         names="imgs", says="image folder"),
    Case("split-dotdot-to-input", "7.2", both(voc_in(), folder("x")),
         ("split", "in", "x/../in", "--overwrite"), names="in"),
    Case("rebalance-over-symlinked-input", "7.2", both(voc_in(), symlink("link", "in")),
         ("rebalance", "in", "link", "--to", "coco", "--overwrite"), names="link"),
    Case("rebalance-list-inside-input", "7.2", both(voc_in(), symlink("link", "in")),
         ("rebalance", "in", "link/list.txt"), names="link/list.txt"),
    Case("points-over-input", "7.2", both(voc_in(), folder("x")),
         ("points", "to-points", "in", "x/../in", "--to", "csv", "--overwrite"), names="in"),
    Case("to-boxes-over-reference", "7.2", both(voc_in(), predictions),
         ("points", "to-boxes", "pred.csv", "in", "--reference", "in", "--to", "coco",
          "--overwrite"), names="in"),
    # 7.3 check --json over its own input
    Case("check-json-over-input", "7.3", coco_in("in/ann.json"),
         ("check", "in/ann.json", "--json", "in/ann.json", "--overwrite"),
         names="in/ann.json", says="refusing to write over or into the input"),
    Case("check-html-over-folder", "7.1", both(coco_in(), folder("r.html")),
         ("check", "c.json", "--html", "r.html"), names="r.html", says="is a folder"),
    Case("check-json-under-a-file", "7.13", coco_in(),
         ("check", "c.json", "--json", "c.json/r.json"), names="c.json/r.json",
         says="is a file, not a folder"),
    Case("check-json-rerun-replaces", "8.14",
         both(coco_in(), lambda r: (r / "r.json").write_text("old report")),
         ("check", "c.json", "--json", "r.json", "--fail-on", "never"), code=0,
         outputs=("r.json",), check=report_replaced("r.json")),
    Case("check-json-over-config", "7.1",
         both(coco_in(), lambda r: (r / "qc.toml").write_text("fail_on = 'never'\n")),
         ("check", "c.json", "--config", "qc.toml", "--json", "qc.toml"), names="qc.toml"),
    # 7.4 / 8.11 folds
    Case("folds-into-non-empty", "7.4", both(voc_in(), folder("out", with_file=True)),
         ("split", "in", "out", "--folds", "3"), names="out", says="--overwrite"),
    Case("folds-zero", "7.4", voc_in(), ("split", "in", "out", "--folds", "0"),
         names="--folds"),
    Case("folds-one", "7.4", voc_in(), ("split", "in", "out", "--folds", "1"),
         names="--folds"),
    Case("folds-more-than-groups", "8.11", voc_in(),
         ("split", "in", "out", "--folds", "3", "--group-by", r"^shapes_0(\d)"),
         says="groups"),
    Case("folds-more-than-images", "8.11", voc_in(), ("split", "in", "out", "--folds", "20"),
         says="folds"),
    # 8.10 rebalance --only-split lists that split only
    Case("rebalance-only-split-list", "8.10", voc_in(),
         ("rebalance", "in", "list.txt", "--only-split", "train", "--threshold", "0.5"),
         code=0, outputs=("list.txt",), check=only_train_listed),
    # 7.7 confinement: crops, thumbnails, hashes never read outside the image root
    Case("crops-outside-image-root", "7.7", secret_images,
         ("convert", "coco", "imagefolder", "data/ann.json", "crops", "--crops"), code=0,
         outputs=("crops",), check=no_secret_crops),
    Case("thumbnails-outside-image-root", "7.7", secret_images,
         ("check", "data/ann.json", "--html", "r.html", "--fail-on", "never"), code=0,
         outputs=("r.html",), check=no_secret_thumbnails),
    Case("hashes-outside-image-root", "7.7", secret_images,
         ("check", "data/ann.json", "--json", "r.json", "--fail-on", "never"), code=0,
         outputs=("r.json",), check=no_secret_hashes),
    # 7.11 / 7.17 numbers refused at the option, quickly
    Case("option-nan", "7.17", coco_in(), ("check", "c.json", "--min-box-area", "nan"),
         names="--min-box-area"),
    Case("option-inf", "7.17", coco_in(), ("check", "c.json", "--duplicate-iou", "inf"),
         names="--duplicate-iou"),
    Case("option-1e308", "7.11", coco_in(), ("check", "c.json", "--outlier-z", "1e308"),
         names="--outlier-z"),
    Case("option-400-digits", "7.11", voc_in(),
         ("split", "in", "out", "--seed", "9" * 400), names="--seed"),
    Case("rebalance-target-1e9", "7.11", voc_in(),
         ("rebalance", "in", "out", "--method", "oversample", "--target", "1000000000"),
         names="--target"),
    Case("rebalance-threshold-negative", "7.17", voc_in(),
         ("rebalance", "in", "out.txt", "--threshold", "-1"), names="--threshold"),
    Case("evaluate-distance-nan", "7.17", both(voc_in(), predictions),
         ("evaluate", "points", "in", "pred.csv", "--distance", "nan"), names="--distance"),
    Case("ratios-nan", "7.17", voc_in(), ("split", "in", "out", "--ratios", "nan,0.5,0.5"),
         names="--ratios"),
    Case("config-threshold-abc", "7.13",
         both(coco_in(), lambda r: (r / "qc.toml").write_text(
             "[thresholds]\nmin_box_area = \"abc\"\n")),
         ("check", "c.json", "--config", "qc.toml"), names="qc.toml", says="min_box_area"),
    Case("config-threshold-nan", "7.17",
         both(coco_in(), lambda r: (r / "qc.toml").write_text(
             "[thresholds]\nduplicate_iou = nan\n")),
         ("check", "c.json", "--config", "qc.toml"), names="qc.toml", says="duplicate_iou"),
    Case("config-yaml-alias-bomb", "7.10",
         both(coco_in(), lambda r: (r / "qc.yaml").write_text(
             "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
                 f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9)
                 + "]\n" for i in range(8)))),
         ("check", "c.json", "--config", "qc.yaml"), names="qc.yaml", says="alias"),
    Case("config-skip-not-a-list", "7.13",
         both(coco_in(), lambda r: (r / "qc.toml").write_text("skip = 5\n")),
         ("check", "c.json", "--config", "qc.toml"), names="qc.toml"),
    Case("output-name-too-long", "7.11", coco_in(),
         ("convert", "coco", "coco", "c.json", "o" * 300 + ".json"), says="255 bytes"),
    Case("json-nested-2000-deep", "7.11",
         lambda r: write(r, {"c.json": NESTED}), ("info", "c.json", "--format", "coco"),
         names="c.json"),
    Case("input-dev-zero", "7.11", lambda r: None, ("info", "/dev/zero", "--format", "coco"),
         names="/dev/zero", says="not a regular file"),
    Case("config-dev-zero", "7.11", coco_in(), ("check", "c.json", "--config", "/dev/zero"),
         names="/dev/zero", says="not a regular file"),
    Case("symlink-loop-input", "7.11",
         both(symlink("loop", "loop2"), symlink("loop2", "loop")), ("info", "loop"),
         names="loop"),
]


# -- readers: garbage is a skipped record with its reason (or exit 2), never a crash -------

def ann(**fields) -> list[dict]:
    return [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, **fields}]


def coco_with(text: str | None = None, **doc):
    """c.json from ``doc`` (or raw ``text``) and its image."""
    def build(root: Path) -> None:
        write(root, {"c.json": text if text is not None else coco_doc(**doc), "a.png": png()})
    return build


def voc_with(objects: str, size: str = "<size><width>8</width><height>6</height></size>",
             filename: str = "a.png"):
    def build(root: Path) -> None:
        write(root, {"v/Annotations/a.xml": f"<annotation><filename>{filename}</filename>"
                     f"{size}{objects}</annotation>", "v/JPEGImages/a.png": png()})
    return build


def box(x1, y1, x2, y2, name="c", twice=False) -> str:
    one = f"<bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox>"
    return f"<object><name>{name}</name>{one}{one if twice else ''}</object>"


def yolo_with(labels: str, yaml: str = "train: images\nval: images\nnames: [a, b]\n",
              extra: dict | None = None):
    def build(root: Path) -> None:
        write(root, {"y/data.yaml": yaml, "y/images/a.png": png(), "y/labels/a.txt": labels,
                     **(extra or {})})
    return build


BOMB = ("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\ntrain: images\nnames: [a]\n")
TO_COCO = ("convert", "coco", "coco", "c.json", "o.json")
SKIPPED = ("o.json",)

READER_CASES = [
    # 7.8 Darknet names and list entries outside the dataset
    Case("darknet-names-etc-passwd", "7.8", lambda r: write(r, {
        "d/data/obj.data": "classes = 2\ntrain = data/train.txt\nnames = /etc/passwd\n",
        "d/data/train.txt": "data/obj/a.png\n", "d/data/obj/a.png": png(),
        "d/data/obj/a.txt": "0 0.5 0.5 0.2 0.2\n"}),
         ("convert", "yolo", "coco", "d/data/obj.data", "o.json"), names="obj.data",
         says="outside the dataset"),
    Case("darknet-list-entry-outside", "7.8", lambda r: write(r, {
        "d/data/obj.data": "classes = 1\ntrain = data/train.txt\nnames = data/obj.names\n",
        "d/data/obj.names": "a\n", "d/data/train.txt": "data/obj/a.png\n../../secret.png\n",
        "d/data/obj/a.png": png(), "d/data/obj/a.txt": "0 0.5 0.5 0.2 0.2\n",
        "secret.png": png(), "secret.txt": "0 0.5 0.5 0.2 0.2\n"}),
         ("convert", "yolo", "yolo", "d/data/obj.data", "o", "--images", "copy"), code=0,
         outputs=("o",), says="which is outside the dataset; not read",
         check=lambda r, out, err: not (r / "o" / "images" / "secret.png").exists() or
         (_ for _ in ()).throw(AssertionError("secret copied"))),
    Case("yolo-list-entry-outside", "7.8", yolo_with(
        "0 0.5 0.5 0.2 0.2\n", "train: train.txt\nnames: [a]\n",
        {"y/train.txt": "images/a.png\n/etc/hostname\n"}),
         ("convert", "yolo", "coco", "y", "o.json"), code=0, outputs=SKIPPED,
         says="outside the dataset"),
    # 7.9 geometry checked before pycocotools
    Case("coco-polygon-null", "7.9",
         coco_with(annotations=ann(segmentation=[[1, 1, None, 2, 3, 3]])),
         TO_COCO, code=0, outputs=SKIPPED, says="not a finite number"),
    Case("coco-polygon-1e9-no-area", "7.9", coco_with(
        images=[{"id": 1, "file_name": "a.png"}],
        annotations=ann(segmentation=[[0, 0, 1e9, 0, 1e9, 1e9]])),
         TO_COCO + ("--strict",), names="c.json", says="within 100000 px"),
    Case("coco-polygon-string", "7.13", coco_with(annotations=ann(segmentation="abc")),
         TO_COCO, code=0, outputs=SKIPPED, says="neither polygons nor RLE"),
    Case("coco-rle-size-strings", "7.13", coco_with(
        annotations=ann(segmentation={"size": ["6", "8"], "counts": [48]})),
         TO_COCO, code=0, outputs=SKIPPED, says="RLE size"),
    Case("coco-rle-counts-1e12", "7.13", coco_with(
        annotations=ann(segmentation={"size": [6, 8], "counts": [10 ** 12]})),
         TO_COCO, code=0, outputs=SKIPPED, says="RLE counts"),
    Case("coco-rle-garbage", "7.13", coco_with(
        annotations=ann(bbox=[1, 1, 2, 2], segmentation={"size": [6, 8], "counts": "zz\u00ff!~"})),
         ("check", "c.json", "--no-images", "--strict"), names="c.json", says="RLE counts"),
    # 7.11 absurd numbers: one line, no large allocation
    Case("coco-id-400-digits", "7.11", coco_with(
        images=[{"id": int("9" * 400), "file_name": "a.png", "width": 8, "height": 6}],
        annotations=[]), ("info", "c.json"), names="c.json", says="is not an integer"),
    Case("coco-width-1e308", "7.11", coco_with(
        images=[{"id": 1, "file_name": "a.png", "width": 1e308, "height": 6}],
        annotations=ann(bbox=[1, 1, 2, 2])), ("convert", "coco", "yolo", "c.json", "o"),
         names="c.json", says="out of range"),
    Case("coco-file-name-300-chars", "7.11", coco_with(
        images=[{"id": 1, "file_name": "a" * 300 + ".png", "width": 8, "height": 6}],
        annotations=[]), ("convert", "coco", "voc", "c.json", "o"), names="c.json",
         says="255 bytes"),
    Case("yolo-names-id-1e11", "7.11", yolo_with(
        "0 0.5 0.5 0.2 0.2\n", "train: images\nnames: {100000000000: cat}\n"),
         ("info", "y"), names="data.yaml", says="class indices"),
    Case("yolo-names-negative", "7.13", yolo_with(
        "0 0.5 0.5 0.2 0.2\n", "train: images\nnames: {-1: cat}\n"),
         ("info", "y"), names="data.yaml", says="class indices"),
    # 7.10 alias bombs
    Case("yolo-data-yaml-alias-bomb", "7.10", yolo_with("0 0.5 0.5 0.2 0.2\n", BOMB),
         ("info", "y"), names="data.yaml", says="aliases"),
    # 7.13 names a file system cannot hold
    Case("coco-file-name-nul", "7.13", coco_with(
        images=[{"id": 1, "file_name": "a\u0000.png", "width": 8, "height": 6}],
        annotations=[]), ("info", "c.json"), names="c.json", says="NUL"),
    Case("coco-file-name-lone-surrogate", "7.13", coco_with(
        text=json.dumps(coco_doc(images=[{"id": 1, "file_name": "X", "width": 8, "height": 6}],
                                 annotations=[])).replace('"X"', '"\\udc80.png"')),
         ("info", "c.json"), names="c.json", says="surrogate"),
    # 7.15 garbage is never accepted silently
    Case("coco-bbox-strings", "7.15", coco_with(annotations=ann(bbox=["1", "1", "2", "2"])),
         TO_COCO, code=0, outputs=SKIPPED, says="is not 4 finite numbers"),
    Case("coco-bbox-booleans", "7.15", coco_with(annotations=ann(bbox=[True, 1, 2, 2])),
         TO_COCO + ("--strict",), names="c.json", says="is not 4 finite numbers"),
    Case("coco-bbox-negative-width", "7.15", coco_with(annotations=ann(bbox=[4, 1, -2, 2])),
         ("convert", "coco", "yolo", "c.json", "o"), code=0, outputs=("o",),
         says="negative width"),
    Case("voc-xmin-above-xmax", "7.15", voc_with(box(5, 1, 2, 4)),
         ("convert", "voc", "coco", "v", "o.json"), code=0, outputs=SKIPPED,
         says="out of order"),
    Case("voc-repeated-bndbox", "7.15", voc_with(box(1, 1, 2, 4, twice=True)),
         ("convert", "voc", "coco", "v", "o.json", "--strict"), names="a.xml",
         says="more than one <bndbox>"),
    Case("voc-corner-1e308", "7.11", voc_with(box(1, 1, "1e308", 4)),
         ("convert", "voc", "yolo", "v", "o"), code=0, outputs=("o",), says="beyond"),
    Case("yolo-values-outside-unit", "7.15", yolo_with(
        "0 1.5 0.5 0.2 0.2\n1 0.5 0.5 -0.2 0.2\n0 0.5 0.5 0.2 0.2\n"),
         ("convert", "yolo", "coco", "y", "o.json"), code=0, outputs=SKIPPED,
         says="must lie in [0, 1]"),
    # 7.16 writers never write what their readers refuse
    Case("voc-category-control-char", "7.16", coco_with(
        categories=[{"id": 1, "name": "a\u0001b"}], annotations=ann(bbox=[1, 1, 2, 2])),
         ("convert", "coco", "voc", "c.json", "o"), says="XML cannot hold"),
    Case("voc-field-not-an-xml-name", "7.16", coco_with(
        images=[{"id": 1, "file_name": "a.png", "width": 8, "height": 6, "a b<c": 1}],
        annotations=ann(bbox=[1, 1, 2, 2])),
         ("convert", "coco", "voc", "c.json", "o"), code=0, outputs=("o",),
         says="VOC cannot name an element after image columns a b<c: dropped"),
    Case("voc-nested-key-not-an-xml-name", "7.16", coco_with(
        images=[{"id": 1, "file_name": "a.png", "width": 8, "height": 6,
                 "owner": {"a b<c": 1}}], annotations=ann(bbox=[1, 1, 2, 2])),
         ("convert", "coco", "voc", "c.json", "o"), says="not a valid XML element name"),
    Case("voc-file-name-newline", "7.16", coco_with(
        images=[{"id": 1, "file_name": "a\nb.png", "width": 8, "height": 6, "split": "train"},
                {"id": 2, "file_name": "a.png", "width": 8, "height": 6, "split": "train"}],
        annotations=ann(bbox=[1, 1, 2, 2])),
         ("convert", "coco", "voc", "c.json", "o"), code=0, outputs=("o",),
         says="line break", check=lambda r, out, err: _lists_read_back(r / "o")),
    Case("yolo-category-ids-zero-and-negative", "7.16", coco_with(
        categories=[{"id": 0, "name": "z"}, {"id": -1, "name": "n"}],
        annotations=ann(category_id=0, bbox=[1, 1, 2, 2]) + [
            {"id": 2, "image_id": 1, "category_id": -1, "bbox": [1, 1, 2, 2]}]),
         ("convert", "coco", "yolo", "c.json", "o"), code=0, outputs=("o",),
         check=lambda r, out, err: _ids_read_back(r / "o", [-1, 0])),
]


def _lists_read_back(root: Path) -> None:
    import annokit
    ds = annokit.read(root, "voc", strict=True)  # every ImageSets line names a file
    assert ds.images["file_name"].tolist() == ["a.png"]


def _ids_read_back(root: Path, ids: list) -> None:
    import annokit
    ds = annokit.read(root, "yolo", strict=True)
    assert sorted(ds.categories["id"]) == ids and len(ds.annotations) == 2


CASES += READER_CASES


def write_case(case: Case, root: Path) -> Path:
    """Build ``case`` in ``root`` (made); return it."""
    root.mkdir(parents=True, exist_ok=True)
    case.build(root)
    return root


def main(out: str) -> None:
    """Write every case's input and its command line under ``out``."""
    for case in CASES:
        root = write_case(case, Path(out) / case.name)
        (root / "command.txt").write_text(
            "annokit " + " ".join(map(str, case.args)) + f"\n# expect exit {case.code}\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "hostile-corpus")
