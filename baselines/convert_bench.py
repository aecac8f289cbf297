"""Conversion benchmark: annokit against the floor (plain parse + write) and named peers.

Generates a synthetic COCO detection set (N images, ~7.3 boxes each, COCO's 80 classes
with their real ids 1..90), derives VOC and YOLO copies of it with plain code, then
times every conversion in a fresh subprocess (wall time, peak RSS via ``os.wait4``):

    annokit       annokit.convert(src, dst, src_fmt, dst_fmt, images="none")
    annokit-cli   annokit convert SRC DST IN OUT --images none --quiet
    floor         the least plain code that parses the input and writes the same output
                  (orjson for JSON); ``floor-json`` is the same with the stdlib json
    globox, datumaro, supervision
                  their documented Python APIs, each from its own virtualenv
                  (``--setup-peers`` creates them under baselines/_work/)

Results go to a JSON file (merged with earlier runs of the same N, so annokit can be
re-timed alone) and to a table in baselines/README.md.

Example:
    .venv/bin/python baselines/convert_bench.py --n 5000 --no-peers
    .venv/bin/python baselines/convert_bench.py --n 50000 --tools annokit --only coco2yolo
    .venv/bin/python baselines/convert_bench.py --n 50000 --profile coco2yolo

Only the standard library is imported at the top: the peers' virtualenvs run this same
file (``--child``) without numpy, orjson or annokit installed.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import struct
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / "_work"
MAIN_PYTHON = REPO / ".venv" / "bin" / "python"
ANNOKIT_CLI = REPO / ".venv" / "bin" / "annokit"
README = HERE / "README.md"

DIRECTIONS = ("coco2yolo", "coco2voc", "voc2coco", "yolo2coco")
PEERS = ("globox", "datumaro", "supervision")
TOOLS = ("floor", "floor-json", "annokit", "annokit-cli", *PEERS)
FORMATS = {"coco2yolo": ("coco", "yolo"), "coco2voc": ("coco", "voc"),
           "voc2coco": ("voc", "coco"), "yolo2coco": ("yolo", "coco")}
SPLIT = "train"
SEED = 20240501

# COCO 2017's 80 detection classes with their real, non-contiguous ids
COCO_CATEGORIES = [
    (1, "person", "person"), (2, "bicycle", "vehicle"), (3, "car", "vehicle"),
    (4, "motorcycle", "vehicle"), (5, "airplane", "vehicle"), (6, "bus", "vehicle"),
    (7, "train", "vehicle"), (8, "truck", "vehicle"), (9, "boat", "vehicle"),
    (10, "traffic light", "outdoor"), (11, "fire hydrant", "outdoor"),
    (13, "stop sign", "outdoor"), (14, "parking meter", "outdoor"), (15, "bench", "outdoor"),
    (16, "bird", "animal"), (17, "cat", "animal"), (18, "dog", "animal"),
    (19, "horse", "animal"), (20, "sheep", "animal"), (21, "cow", "animal"),
    (22, "elephant", "animal"), (23, "bear", "animal"), (24, "zebra", "animal"),
    (25, "giraffe", "animal"), (27, "backpack", "accessory"), (28, "umbrella", "accessory"),
    (31, "handbag", "accessory"), (32, "tie", "accessory"), (33, "suitcase", "accessory"),
    (34, "frisbee", "sports"), (35, "skis", "sports"), (36, "snowboard", "sports"),
    (37, "sports ball", "sports"), (38, "kite", "sports"), (39, "baseball bat", "sports"),
    (40, "baseball glove", "sports"), (41, "skateboard", "sports"),
    (42, "surfboard", "sports"), (43, "tennis racket", "sports"), (44, "bottle", "kitchen"),
    (46, "wine glass", "kitchen"), (47, "cup", "kitchen"), (48, "fork", "kitchen"),
    (49, "knife", "kitchen"), (50, "spoon", "kitchen"), (51, "bowl", "kitchen"),
    (52, "banana", "food"), (53, "apple", "food"), (54, "sandwich", "food"),
    (55, "orange", "food"), (56, "broccoli", "food"), (57, "carrot", "food"),
    (58, "hot dog", "food"), (59, "pizza", "food"), (60, "donut", "food"),
    (61, "cake", "food"), (62, "chair", "furniture"), (63, "couch", "furniture"),
    (64, "potted plant", "furniture"), (65, "bed", "furniture"),
    (67, "dining table", "furniture"), (70, "toilet", "furniture"), (72, "tv", "electronic"),
    (73, "laptop", "electronic"), (74, "mouse", "electronic"), (75, "remote", "electronic"),
    (76, "keyboard", "electronic"), (77, "cell phone", "electronic"),
    (78, "microwave", "appliance"), (79, "oven", "appliance"), (80, "toaster", "appliance"),
    (81, "sink", "appliance"), (82, "refrigerator", "appliance"), (84, "book", "indoor"),
    (85, "clock", "indoor"), (86, "vase", "indoor"), (87, "scissors", "indoor"),
    (88, "teddy bear", "indoor"), (89, "hair drier", "indoor"), (90, "toothbrush", "indoor"),
]
# (width, height, share of images): COCO's most common sizes plus a 720p frame
IMAGE_SIZES = [(640, 480, .40), (640, 427, .25), (480, 640, .10), (500, 375, .10),
               (427, 640, .05), (1280, 720, .10)]
BOXES_PER_IMAGE = 7.3  # COCO train2017 has 7.3 boxes per image


# ---------------------------------------------------------------------------------------
# Input data: a synthetic COCO set and the same content as VOC and YOLO
# ---------------------------------------------------------------------------------------

def data_paths(data: Path) -> dict[str, Path]:
    """The input of each format inside the data folder (layouts every tool can read)."""
    return {"coco": data / "coco" / "annotations" / f"instances_{SPLIT}.json",
            "coco_images": data / "coco" / "images" / SPLIT,
            "voc": data / "voc", "yolo": data / "yolo"}


def make_coco(n: int, seed: int = SEED) -> dict:
    """A COCO detection dict: ``n`` images, Poisson(7.3) boxes each, all inside the image.

    Example:
        >>> d = make_coco(10)  # doctest: +SKIP
        >>> len(d["images"]), d["categories"][11]["id"]  # doctest: +SKIP
        (10, 13)
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    sizes = np.array([s[:2] for s in IMAGE_SIZES])
    which = rng.choice(len(sizes), n, p=[s[2] for s in IMAGE_SIZES])
    width, height = sizes[which, 0], sizes[which, 1]
    image_ids = np.sort(rng.choice(np.arange(1, 12 * n + 2), n, replace=False))  # sparse, like COCO
    counts = rng.poisson(BOXES_PER_IMAGE, n)
    owner = np.repeat(np.arange(n), counts)
    m = len(owner)
    iw, ih = width[owner], height[owner]
    # sizes log-uniform between 1% and 90% of the image side; work in hundredths of a
    # pixel so that every box is exactly inside the image after rounding to 2 decimals
    w100 = np.maximum(100, (iw * 100 * np.exp(rng.uniform(np.log(.01), np.log(.9), m))))
    w100 = w100.astype(np.int64)  # the same draws, in the same order, as before
    h100 = np.maximum(100, (ih * 100 * np.exp(rng.uniform(np.log(.01), np.log(.9), m))))
    h100 = h100.astype(np.int64)
    x100 = (rng.random(m) * (iw * 100 - w100)).astype(np.int64)
    y100 = (rng.random(m) * (ih * 100 - h100)).astype(np.int64)
    # class frequencies roughly like COCO's: person common, a long tail after it
    weights = 1.0 / np.arange(1, len(COCO_CATEGORIES) + 1) ** 0.9
    cat_ids = np.array([c[0] for c in COCO_CATEGORIES])[
        rng.choice(len(COCO_CATEGORIES), m, p=weights / weights.sum())]
    x, y, w, h = x100 / 100, y100 / 100, w100 / 100, h100 / 100
    area = np.round(w * h, 2)
    ids = image_ids.tolist()
    images = [{"id": i, "file_name": f"{i:012d}.jpg", "width": wd, "height": ht,
               "license": 1 + i % 6,
               "date_captured": f"2013-11-{1 + i % 28:02d} 12:{i % 60:02d}:00"}
              for i, wd, ht in zip(ids, width.tolist(), height.tolist())]
    owner_ids = image_ids[owner].tolist()
    annotations = [{"id": k, "image_id": im, "category_id": c, "bbox": [bx, by, bw, bh],
                    "area": a, "iscrowd": 0}
                   for k, im, c, bx, by, bw, bh, a in zip(
                       range(1, m + 1), owner_ids, cat_ids.tolist(), x.tolist(), y.tolist(),
                       w.tolist(), h.tolist(), area.tolist())]
    return {
        "info": {"description": "annokit synthetic benchmark set", "version": "1.0",
                 "year": 2024, "contributor": "annokit baselines", "date_created": "2024-05-01"},
        "licenses": [{"id": k, "name": f"License {k}", "url": f"http://example.org/license/{k}"}
                     for k in range(1, 7)],
        "images": images, "annotations": annotations,
        "categories": [{"supercategory": s, "id": i, "name": nm} for i, nm, s in COCO_CATEGORIES],
    }


def link_images(file_names: list[str], sizes: list[tuple[int, int]], folder: Path,
                sources: Path) -> None:
    """Hard-link one small real JPEG per image size to every file name in ``folder``.

    Each source file gets at most 10,000 links (ext4 allows 65,000 per inode).
    """
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    sources.mkdir(parents=True, exist_ok=True)
    used: dict[tuple[int, int], int] = defaultdict(int)
    for name, (w, h) in zip(file_names, sizes):
        kind = folder.relative_to(sources.parent).parts[0]
        src = sources / f"{kind}-{w}x{h}-{used[w, h] // 10000}.jpg"
        if not src.exists():
            Image.new("RGB", (w, h), (90, 120, 150)).save(src, quality=40)
        used[w, h] += 1
        os.link(src, folder / name)


def prepare(data: Path, n: int) -> dict:
    """Write the COCO, VOC and YOLO inputs under ``data`` once (skipped when present)."""
    import orjson

    stamp = data / "READY.json"
    if stamp.exists():
        return json.loads(stamp.read_text())
    if data.exists():
        shutil.rmtree(data)
    paths = data_paths(data)
    t0 = time.perf_counter()
    coco = make_coco(n)
    paths["coco"].parent.mkdir(parents=True)
    paths["coco"].write_bytes(orjson.dumps(coco))
    names = [im["file_name"] for im in coco["images"]]
    sizes = [(im["width"], im["height"]) for im in coco["images"]]
    sources = data / "_jpeg"
    link_images(names, sizes, paths["coco_images"], sources)
    # VOC and YOLO inputs are the floors' own outputs plus images and index files
    floor_coco2voc(paths["coco"], paths["voc"], orjson.loads)
    link_images(names, sizes, paths["voc"] / "JPEGImages", sources)
    main = paths["voc"] / "ImageSets" / "Main"
    main.mkdir(parents=True)
    (main / f"{SPLIT}.txt").write_text("".join(f"{Path(nm).stem}\n" for nm in names))
    # datumaro needs a label map for classes outside VOC's 20; others ignore the file
    (paths["voc"] / "labelmap.txt").write_text(
        "# label:color_rgb:parts:actions\n" + "".join(f"{c[1]}:::\n" for c in COCO_CATEGORIES))
    floor_coco2yolo(paths["coco"], paths["yolo"], orjson.loads)
    link_images(names, sizes, paths["yolo"] / "images" / SPLIT, sources)
    info = {"n_images": n, "n_boxes": len(coco["annotations"]), "seed": SEED,
            "coco_json_mib": round(paths["coco"].stat().st_size / 2**20, 1),
            "prepare_s": round(time.perf_counter() - t0, 1)}
    stamp.write_text(json.dumps(info))
    return info


# ---------------------------------------------------------------------------------------
# Floors: the least plain code that parses the input and writes the same output
# ---------------------------------------------------------------------------------------

def _yolo_yaml(names: list[str]) -> str:
    return (f"path: .\n{SPLIT}: images/{SPLIT}\nnc: {len(names)}\nnames:\n"
            + "".join(f"  {i}: {json.dumps(nm)}\n" for i, nm in enumerate(names)))


def floor_coco2yolo(src: Path, dst: Path, loads) -> None:
    """COCO -> YOLO floor: ``loads`` the JSON, group boxes by image, write one .txt per
    image (``class cx cy w h`` normalised, 6 decimals; class = rank of the COCO id; an
    empty file for an image without boxes) and data.yaml with the names."""
    d = loads(src.read_bytes())
    cats = sorted(d["categories"], key=lambda c: c["id"])
    index = {c["id"]: i for i, c in enumerate(cats)}
    by_image = defaultdict(list)
    for a in d["annotations"]:
        by_image[a["image_id"]].append(a)
    labels = dst / "labels" / SPLIT
    labels.mkdir(parents=True)
    for im in d["images"]:
        W, H = im["width"], im["height"]
        lines = []
        for a in by_image.get(im["id"], ()):
            x, y, w, h = a["bbox"]
            lines.append(f"{index[a['category_id']]} {(x + w / 2) / W:.6f} {(y + h / 2) / H:.6f} "
                         f"{w / W:.6f} {h / H:.6f}\n")
        with open(labels / (os.path.splitext(im["file_name"])[0] + ".txt"), "w") as f:
            f.write("".join(lines))
    (dst / "data.yaml").write_text(_yolo_yaml([c["name"] for c in cats]))


VOC_OBJECT = ("  <object>\n    <name>{}</name>\n    <pose>Unspecified</pose>\n"
              "    <truncated>0</truncated>\n    <difficult>0</difficult>\n    <bndbox>\n"
              "      <xmin>{:g}</xmin>\n      <ymin>{:g}</ymin>\n      <xmax>{:g}</xmax>\n"
              "      <ymax>{:g}</ymax>\n    </bndbox>\n  </object>\n")


def floor_coco2voc(src: Path, dst: Path, loads) -> None:
    """COCO -> VOC floor: ``loads`` the JSON, group boxes by image, fill one XML template
    string per image (folder, filename, size, one <object> per box with plain corners
    xmin=x, xmax=x+w) and write it to Annotations/<stem>.xml."""
    d = loads(src.read_bytes())
    names = {c["id"]: escape(c["name"]) for c in d["categories"]}
    by_image = defaultdict(list)
    for a in d["annotations"]:
        by_image[a["image_id"]].append(a)
    out = dst / "Annotations"
    out.mkdir(parents=True)
    for im in d["images"]:
        objects = []
        for a in by_image.get(im["id"], ()):
            x, y, w, h = a["bbox"]
            objects.append(VOC_OBJECT.format(names[a["category_id"]], x, y, x + w, y + h))
        xml = (f"<annotation>\n  <folder>JPEGImages</folder>\n  <filename>{escape(im['file_name'])}"
               f"</filename>\n  <size>\n    <width>{im['width']}</width>\n    <height>"
               f"{im['height']}</height>\n    <depth>3</depth>\n  </size>\n  <segmented>0"
               f"</segmented>\n{''.join(objects)}</annotation>\n")
        with open(out / (os.path.splitext(im["file_name"])[0] + ".xml"), "w") as f:
            f.write(xml)


def floor_voc2coco(src: Path, dst: Path, dumps) -> None:
    """VOC -> COCO floor: lxml-parse every Annotations/*.xml (no entity expansion), walk
    the root's children once (filename, size, and each object's name, difficult, truncated
    and bndbox; a child walk is 2x faster than findtext paths), number images 1..N in file
    order and classes 1..K in first-seen order, ``dumps`` the COCO dict."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    folder = src / "Annotations"
    images, annotations, cats = [], [], {}
    for image_id, name in enumerate(sorted(os.listdir(folder)), 1):
        image = {"id": image_id}
        for el in etree.parse(str(folder / name), parser).getroot():
            if el.tag == "object":
                obj = {c.tag: c for c in el}
                box = {c.tag: c.text for c in obj["bndbox"]}
                x1, y1 = float(box["xmin"]), float(box["ymin"])
                x2, y2 = float(box["xmax"]), float(box["ymax"])
                cat = cats.setdefault(obj["name"].text, len(cats) + 1)
                flags = {k: int(obj[k].text) for k in ("difficult", "truncated") if k in obj}
                annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                    "category_id": cat, "bbox": [x1, y1, x2 - x1, y2 - y1],
                                    "area": (x2 - x1) * (y2 - y1), "iscrowd": 0, **flags})
            elif el.tag == "filename":
                image["file_name"] = el.text
            elif el.tag == "size":
                size = {c.tag: c.text for c in el}
                image["width"], image["height"] = int(size["width"]), int(size["height"])
        images.append(image)
    categories = [{"id": i, "name": nm, "supercategory": None} for nm, i in cats.items()]
    _write_json(dst, {"images": images, "annotations": annotations,
                      "categories": categories}, dumps)


_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def jpeg_size(path: str) -> tuple[int, int]:
    """(width, height) from a JPEG's SOF marker in its first 4 KiB (Pillow otherwise)."""
    with open(path, "rb") as f:
        head = f.read(4096)
    i = 2
    while head[:2] == b"\xff\xd8" and i + 9 <= len(head) and head[i] == 0xFF:
        if head[i + 1] in _JPEG_SOF:
            h, w = struct.unpack(">HH", head[i + 5:i + 9])
            return w, h
        i += 2 + struct.unpack(">H", head[i + 2:i + 4])[0]
    from PIL import Image
    with Image.open(path) as im:
        return im.size


def floor_yolo2coco(src: Path, dst: Path, dumps) -> None:
    """YOLO -> COCO floor: yaml-load data.yaml's names, list images/<split>, read each
    image's size from its JPEG header and its labels/<split>/<stem>.txt, scale the
    normalised boxes to pixels, ``dumps`` the COCO dict (class k -> category id k+1)."""
    import yaml

    names = yaml.safe_load((src / "data.yaml").read_text())["names"]
    names = list(names.values()) if isinstance(names, dict) else names
    image_dir, label_dir = src / "images" / SPLIT, src / "labels" / SPLIT
    images, annotations = [], []
    for image_id, name in enumerate(sorted(os.listdir(image_dir)), 1):
        W, H = jpeg_size(str(image_dir / name))
        images.append({"id": image_id, "file_name": name, "width": W, "height": H})
        try:
            with open(label_dir / (os.path.splitext(name)[0] + ".txt")) as f:
                text = f.read()
        except FileNotFoundError:
            continue
        for line in text.splitlines():
            c, cx, cy, w, h = line.split()
            w, h = float(w) * W, float(h) * H
            x, y = float(cx) * W - w / 2, float(cy) * H - h / 2
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                "category_id": int(c) + 1, "bbox": [x, y, w, h],
                                "area": w * h, "iscrowd": 0})
    categories = [{"id": i + 1, "name": nm, "supercategory": None} for i, nm in enumerate(names)]
    _write_json(dst, {"images": images, "annotations": annotations,
                      "categories": categories}, dumps)


def _write_json(dst: Path, d: dict, dumps) -> None:
    data = dumps(d)
    dst.write_bytes(data if isinstance(data, bytes) else data.encode())


FLOORS = {"coco2yolo": floor_coco2yolo, "coco2voc": floor_coco2voc,
          "voc2coco": floor_voc2coco, "yolo2coco": floor_yolo2coco}


# ---------------------------------------------------------------------------------------
# The runs: each tool's way of doing one direction (called inside a child process)
# ---------------------------------------------------------------------------------------

def run_floor(direction: str, data: Path, dst: Path, stdlib: bool) -> None:
    import orjson
    paths = data_paths(data)
    src = paths[FORMATS[direction][0]]
    if direction.startswith("coco"):
        FLOORS[direction](src, dst, json.loads if stdlib else orjson.loads)
    else:
        FLOORS[direction](src, dst, json.dumps if stdlib else orjson.dumps)


def run_annokit(direction: str, data: Path, dst: Path) -> None:
    import annokit
    src_fmt, dst_fmt = FORMATS[direction]
    annokit.convert(data_paths(data)[src_fmt], dst, src_fmt, dst_fmt, images="none")


def run_globox(direction: str, data: Path, dst: Path) -> None:
    """globox's API: from_coco / from_pascal_voc / from_yolo_v5, save_* ."""
    from globox import AnnotationSet
    p = data_paths(data)
    if direction.startswith("coco"):
        s = AnnotationSet.from_coco(p["coco"])
        if direction == "coco2yolo":
            # class index = rank of the COCO id, as the floor and annokit write it
            label_to_id = {s._id_to_label[k]: i for i, k in enumerate(sorted(s._id_to_label))}
            (dst / "labels").mkdir(parents=True)
            s.save_yolo_v5(dst / "labels" / SPLIT, label_to_id=label_to_id)
        else:
            dst.mkdir(parents=True)
            s.save_pascal_voc(dst / "Annotations")
    elif direction == "voc2coco":
        AnnotationSet.from_pascal_voc(p["voc"] / "Annotations").save_coco(dst, auto_ids=True)
    else:
        AnnotationSet.from_yolo_v5(p["yolo"] / "labels" / SPLIT,
                                   image_folder=p["yolo"] / "images" / SPLIT
                                   ).save_coco(dst, auto_ids=True)


def run_datumaro(direction: str, data: Path, dst: Path) -> None:
    """datumaro's API: Dataset.import_from(path, fmt).export(out, fmt, save_media=False)."""
    import datumaro as dm
    p = data_paths(data)
    if direction.startswith("coco"):
        ds = dm.Dataset.import_from(str(p["coco"].parent.parent), "coco_instances")
        # "yolo" (Darknet layout): datumaro's "yolo_ultralytics" refuses a set without "val"
        fmt = "yolo" if direction == "coco2yolo" else "voc_detection"
        ds.export(str(dst), fmt, save_media=False)
    else:
        ds = dm.Dataset.import_from(str(p[FORMATS[direction][0]]),
                                    "voc_detection" if direction == "voc2coco" else "yolo")
        ds.export(str(dst.with_suffix("")), "coco_instances", save_media=False)


def run_supervision(direction: str, data: Path, dst: Path) -> None:
    """supervision's API: DetectionDataset.from_coco/from_pascal_voc/from_yolo, as_*."""
    import supervision as sv
    p = data_paths(data)
    if direction.startswith("coco"):
        ds = sv.DetectionDataset.from_coco(images_directory_path=str(p["coco_images"]),
                                           annotations_path=str(p["coco"]))
        if direction == "coco2yolo":
            ds.as_yolo(annotations_directory_path=str(dst / "labels" / SPLIT),
                       data_yaml_path=str(dst / "data.yaml"))
        else:
            ds.as_pascal_voc(annotations_directory_path=str(dst / "Annotations"))
    elif direction == "voc2coco":
        sv.DetectionDataset.from_pascal_voc(
            images_directory_path=str(p["voc"] / "JPEGImages"),
            annotations_directory_path=str(p["voc"] / "Annotations")).as_coco(
            annotations_path=str(dst))
    else:
        sv.DetectionDataset.from_yolo(
            images_directory_path=str(p["yolo"] / "images" / SPLIT),
            annotations_directory_path=str(p["yolo"] / "labels" / SPLIT),
            data_yaml_path=str(p["yolo"] / "data.yaml")).as_coco(annotations_path=str(dst))


def child(tool: str, direction: str, data: str, dst: str, result: str) -> None:
    """Entry point of a timed child process: do one conversion, record its own time."""
    data_p, dst_p = Path(data), Path(dst)
    t0 = time.perf_counter()
    if tool in ("floor", "floor-json"):
        run_floor(direction, data_p, dst_p, stdlib=tool == "floor-json")
    else:
        {"annokit": run_annokit, "globox": run_globox, "datumaro": run_datumaro,
         "supervision": run_supervision}[tool](direction, data_p, dst_p)
    Path(result).write_text(json.dumps({"work_s": time.perf_counter() - t0}))


# ---------------------------------------------------------------------------------------
# The parent: fresh subprocess per run, wall time and peak RSS from wait4
# ---------------------------------------------------------------------------------------

def peer_python(peer: str, venvs: Path) -> Path:
    return venvs / f"venv-{peer}" / "bin" / "python"


def command(tool: str, direction: str, data: Path, dst: Path, result: Path,
            venvs: Path) -> list[str]:
    if tool == "annokit-cli":
        src_fmt, dst_fmt = FORMATS[direction]
        return [str(ANNOKIT_CLI), "convert", src_fmt, dst_fmt, str(data_paths(data)[src_fmt]),
                str(dst), "--images", "none", "--quiet"]
    python = peer_python(tool, venvs) if tool in PEERS else MAIN_PYTHON
    return [str(python), str(Path(__file__).resolve()), "--child", tool, direction,
            str(data), str(dst), str(result)]


# A small launcher between us and each run: a process's peak RSS counts the pages of the
# process it was forked from (Linux keeps the high-water mark across exec), so the run is
# spawned by this ~10 MiB interpreter rather than by the bench with its data in memory.
LAUNCHER = """
import json, os, sys, time
t0 = time.perf_counter()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, ru = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    json.dump({"wall_s": time.perf_counter() - t0, "maxrss_kib": ru.ru_maxrss,
               "cpu_s": ru.ru_utime + ru.ru_stime, "rc": os.waitstatus_to_exitcode(status)}, f)
"""


def timed(cmd: list[str], log: Path, timeout: float) -> dict:
    """Run ``cmd`` through the launcher; return wall s, CPU s, peak RSS MiB, exit code."""
    stats = log.with_suffix(".rusage.json")
    stats.unlink(missing_ok=True)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(MAIN_PYTHON), "-S", "-c", LAUNCHER, str(stats), *cmd],
                                stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=REPO)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return {"wall_s": round(time.perf_counter() - t0, 1), "rc": -9, "timed_out": True,
                    "load1": round(load, 2)}
    r = json.loads(stats.read_text())
    stats.unlink()
    return {"wall_s": round(r["wall_s"], 3), "cpu_s": round(r["cpu_s"], 3),
            "peak_mib": round(r["maxrss_kib"] / 1024, 1), "rc": r["rc"], "timed_out": False,
            "load1": round(load, 2)}


def count_output(out: Path) -> dict:
    """What a run wrote: label/XML files, images and boxes (to catch silent losses)."""
    import orjson
    files = images = boxes = 0
    for root, _, names in os.walk(out):
        for name in names:
            path = os.path.join(root, name)
            files += 1
            folder = os.path.basename(root)
            if name.endswith(".txt") and (folder.startswith("obj_") or "labels" in root):
                images += 1
                with open(path, "rb") as f:
                    boxes += sum(1 for line in f if line.strip())
            elif name.endswith(".xml"):
                images += 1
                with open(path, "rb") as f:
                    boxes += f.read().count(b"<object>")
            elif name.endswith(".json"):
                try:
                    d = orjson.loads(Path(path).read_bytes())
                except orjson.JSONDecodeError:
                    continue
                if isinstance(d, dict) and "annotations" in d:
                    images += len(d.get("images", []))
                    boxes += len(d["annotations"])
    return {"files_out": files, "images_out": images, "boxes_out": boxes}


def run_once(tool: str, direction: str, rep: int, data: Path, work: Path, scratch: Path,
             timeout: float, venvs: Path) -> dict:
    """Time ``tool`` on ``direction`` once in a fresh process; count what it wrote."""
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    out = scratch / f"{tool}-{direction}-{rep}"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    dst = out / ("coco.json" if FORMATS[direction][1] == "coco" else FORMATS[direction][1])
    result = out.parent / f"{tool}-{direction}-{rep}.result.json"
    result.unlink(missing_ok=True)
    log = logs / f"{tool}-{direction}-{rep}.log"
    run = timed(command(tool, direction, data, dst, result, venvs), log, timeout)
    if result.exists():
        run["work_s"] = round(json.loads(result.read_text())["work_s"], 3)
        result.unlink()
    if run["timed_out"]:
        run["error"] = f"timed out >{timeout:.0f} s"
    elif run["rc"] != 0:
        tail = log.read_text(errors="replace").strip().splitlines()
        run["error"] = (tail[-1] if tail else f"exit code {run['rc']}")[:300]
    else:
        run.update(count_output(out))
    shutil.rmtree(out)
    print(f"  {tool:12s} {direction:10s} #{rep + 1}: {_brief(run)}", flush=True)
    return run


def _better(best: dict | None, run: dict) -> dict:
    """The faster of two runs (a failure wins: it is what must be reported), peak RSS max."""
    if best is None or "error" in run:
        return {**run, "repeats": 1}
    keep = run if run["wall_s"] < best["wall_s"] else best
    return {**keep, "peak_mib": max(run["peak_mib"], best["peak_mib"]),
            "repeats": best["repeats"] + 1}


def _brief(run: dict) -> str:
    if "error" in run:
        return f"FAILED ({run['error']}) after {run['wall_s']:.1f} s"
    return (f"{run['wall_s']:.2f} s wall, {run['cpu_s']:.2f} s CPU, "
            f"{run.get('work_s', float('nan')):.2f} s work, load {run['load1']:.1f}, "
            f"{run['peak_mib']:.0f} MiB, {run['images_out']} images / {run['boxes_out']} boxes")


def annokit_ready() -> str | None:
    """None when annokit's three formats import, else why not."""
    proc = subprocess.run([str(MAIN_PYTHON), "-c", "import annokit.formats.coco, "
                           "annokit.formats.voc, annokit.formats.yolo"],
                          capture_output=True, text=True)
    return None if proc.returncode == 0 else (proc.stderr.strip().splitlines() or ["?"])[-1]


# ---------------------------------------------------------------------------------------
# Peers' virtualenvs, machine facts, results file and README table
# ---------------------------------------------------------------------------------------

def setup_peers(venvs: Path) -> dict[str, str]:
    """Create one virtualenv per peer and pip-install it; return peer -> problem ('' = ok)."""
    problems = {}
    for peer in PEERS:
        venv = venvs / f"venv-{peer}"
        if peer_python(peer, venvs).exists() and _peer_version(peer, venvs):
            problems[peer] = ""
            continue
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        proc = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", peer],
                              capture_output=True, text=True)
        problems[peer] = "" if proc.returncode == 0 else \
            f"pip install failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}"
        print(f"  {peer}: {problems[peer] or 'installed'}", flush=True)
    return problems


def _peer_version(peer: str, venvs: Path) -> str | None:
    python = peer_python(peer, venvs)
    if not python.exists():
        return None
    proc = subprocess.run([str(python), "-c", "import importlib.metadata as m, sys; "
                           f"print(m.version('{peer}'))"], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def machine() -> dict:
    """nproc, RAM, CPU, Python and package versions, the date."""
    from importlib.metadata import PackageNotFoundError, version
    mem = next((int(line.split()[1]) for line in open("/proc/meminfo")
                if line.startswith("MemTotal")), 0)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    versions = {}
    for pkg in ("annokit", "pandas", "numpy", "orjson", "lxml"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    return {"nproc": os.cpu_count(), "ram_gib": round(mem / 2**20, 1), "cpu": cpu,
            "python": platform.python_version(), "platform": platform.platform(),
            "versions": versions, "date": datetime.date.today().isoformat()}


def load_results(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {"runs": {}}


def save_results(path: Path, results: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")


def _cell_s(run: dict | None) -> str:
    if run is None:
        return "-"
    if "error" in run:
        return "timed out" if run.get("timed_out") else "failed"
    return f"{run['wall_s']:.2f}"


def _ok(run: dict | None) -> bool:
    return run is not None and "error" not in run


def _ratio(a: dict | None, b: dict | None, key: str) -> str:
    return f"{a[key] / b[key]:.2f}x" if _ok(a) and _ok(b) else "-"


def table(results: dict) -> str:
    """The markdown table for one N."""
    runs = results["runs"]
    get = lambda tool, d: runs.get(f"{tool}/{d}")  # noqa: E731
    head = ("| direction | annokit s | CPU s | MiB | CLI s | floor s | CPU s | floor (json) s "
            "| annokit/floor wall | CPU | " + " | ".join(f"{p} s, MiB (x annokit)" for p in PEERS)
            + " |")
    lines = [head, "|" + "---|" * (10 + len(PEERS))]
    for d in DIRECTIONS:
        a, floor = get("annokit", d), get("floor", d)
        cells = [d, _cell_s(a), f"{a['cpu_s']:.2f}" if _ok(a) else "-",
                 f"{a['peak_mib']:.0f}" if _ok(a) else "-", _cell_s(get("annokit-cli", d)),
                 _cell_s(floor), f"{floor['cpu_s']:.2f}" if _ok(floor) else "-",
                 _cell_s(get("floor-json", d)), _ratio(a, floor, "wall_s"),
                 _ratio(a, floor, "cpu_s")]
        for p in PEERS:
            r = get(p, d)
            cell = _cell_s(r)
            if _ok(r):
                cell += f", {r['peak_mib']:.0f}"
                if _ok(a):
                    cell += f" ({r['wall_s'] / a['wall_s']:.1f}x)"
            elif r is not None:
                cell += f" ({r['error'][:70]})".replace("|", "/")
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    m = results.get("machine", {})
    v = m.get("versions", {})
    pv = results.get("peer_versions", {})
    inputs = results.get("inputs", {})
    loads = [r["load1"] for r in runs.values() if "load1" in r]
    notes = [
        f"Input: {inputs.get('n_images', 0):,} images, {inputs.get('n_boxes', 0):,} boxes, "
        f"COCO JSON {inputs.get('coco_json_mib', '?')} MiB. Wall and CPU (user+sys) s of a "
        "fresh process, best of the repeats for annokit and the floors, one run for each "
        f"peer; peak RSS. Output written to {results.get('scratch', '?')}.",
        f"Machine: {m.get('nproc')} CPUs ({m.get('cpu')}), {m.get('ram_gib')} GiB RAM, "
        f"Python {m.get('python')}; annokit {v.get('annokit')}, pandas {v.get('pandas')}, "
        f"numpy {v.get('numpy')}, orjson {v.get('orjson')}, lxml {v.get('lxml')}; "
        + ", ".join(f"{p} {pv[p] or 'not installed'}" if p in pv else f"{p} not run"
                    for p in PEERS)
        + f". 1-min load average at the runs' start: {min(loads, default=0):.1f} to "
          f"{max(loads, default=0):.1f}. Updated {results.get('updated', m.get('date'))}.",
    ]
    return "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n"


def update_readme(n: int, results: dict) -> None:
    """Replace (or add) the N=n table between its markers in baselines/README.md."""
    begin, end = f"<!-- results n={n} -->", f"<!-- /results n={n} -->"
    block = f"{begin}\n### N = {n:,}\n\n{table(results)}{end}"
    text = README.read_text() if README.exists() else "# Baselines\n\n## Results\n"
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    README.write_text(text)


# ---------------------------------------------------------------------------------------

def profile(direction: str, data: Path, work: Path, scratch: Path, top: int = 30) -> None:
    """Run annokit on ``direction`` in-process under cProfile; print the top functions."""
    import cProfile
    import pstats
    out = scratch / f"profile-{direction}"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    dst = out / ("coco.json" if FORMATS[direction][1] == "coco" else FORMATS[direction][1])
    t0 = time.perf_counter()
    import annokit  # noqa: F401  imports are timed apart: they are not the conversion's cost
    print(f"== importing annokit: {time.perf_counter() - t0:.2f} s")
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.runcall(run_annokit, direction, data, dst)
    print(f"== {direction}: {time.perf_counter() - t0:.2f} s under the profiler")
    shutil.rmtree(out)
    path = work / f"profile-{direction}.prof"
    prof.dump_stats(path)
    print(f"== {direction}: cumulative (full profile in {path})")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(top)
    print(f"== {direction}: own time")
    pstats.Stats(prof).sort_stats("tottime").print_stats(top)


REPEATED = ("floor", "floor-json", "annokit")  # the others run once


def usable_tools(tools: list[str], directions: list[str], results: dict, venvs: Path,
                 peer_problems: dict[str, str]) -> list[str]:
    """The tools that can run; a missing peer is recorded as failed, with why."""
    not_ready, runnable = annokit_ready(), []
    for tool in tools:
        if tool.startswith("annokit") and not_ready:
            print(f"  {tool}: skipped, annokit's formats are not ready ({not_ready})")
            continue
        if tool == "annokit-cli" and not ANNOKIT_CLI.exists():
            print("  annokit-cli: skipped, no console script")
            continue
        if tool in PEERS:
            version = results["peer_versions"][tool] = _peer_version(tool, venvs)
            if version is None:
                why = peer_problems.get(tool) or f"not installed in {venvs}/venv-{tool}"
                for d in directions:
                    results["runs"][f"{tool}/{d}"] = {"error": why, "wall_s": 0}
                print(f"  {tool}: {why}")
                continue
        runnable.append(tool)
    return runnable


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[5000],
                        help="dataset sizes in images (e.g. --n 5000 50000)")
    parser.add_argument("--peers", action=argparse.BooleanOptionalAction, default=True,
                        help="also time globox, datumaro and supervision")
    parser.add_argument("--only", choices=DIRECTIONS, action="append",
                        help="time only this direction (repeatable)")
    parser.add_argument("--tools", default=",".join(TOOLS),
                        help=f"comma-separated subset of {','.join(TOOLS)}")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of annokit and the floors (best kept); peers run once")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per run")
    parser.add_argument("--out", type=Path, default=None,
                        help="results JSON (default baselines/results-n<N>.json)")
    parser.add_argument("--workdir", type=Path, default=WORK,
                        help="generated data and outputs (default baselines/_work)")
    parser.add_argument("--scratch", type=Path, default=None,
                        help="where runs write their output (default /dev/shm/annokit-bench: "
                             "a shared disk's write noise would swamp the differences)")
    parser.add_argument("--venvs", type=Path, default=WORK,
                        help="folder holding venv-<peer> virtualenvs")
    parser.add_argument("--setup-peers", action="store_true",
                        help="create the peers' virtualenvs first (pip install)")
    parser.add_argument("--profile", choices=DIRECTIONS, action="append",
                        help="profile annokit on this direction instead of timing")
    parser.add_argument("--no-readme", action="store_true", help="leave README.md alone")
    args = parser.parse_args(argv)
    directions = args.only or list(DIRECTIONS)
    tools = [t for t in args.tools.split(",") if t]
    if unknown := set(tools) - set(TOOLS):
        parser.error(f"unknown tools: {', '.join(sorted(unknown))}")
    if not args.peers:
        tools = [t for t in tools if t not in PEERS]
    peer_problems = setup_peers(args.venvs) if args.setup_peers and args.peers else {}

    for n in args.n:
        work = args.workdir / f"n{n}"
        data = work / "data"
        print(f"== N={n}: preparing inputs in {data}", flush=True)
        inputs = prepare(data, n)
        print(f"   {inputs}", flush=True)
        shm = Path("/dev/shm")
        scratch = (args.scratch or (shm / "annokit-bench" if shm.is_dir() else work / "out"))
        scratch = scratch / f"n{n}"
        if args.profile:
            for d in args.profile:
                profile(d, data, work, scratch)
            continue
        out = args.out or HERE / f"results-n{n}.json"
        results = load_results(out)
        results.update(inputs=inputs, machine=machine(), scratch=str(scratch),
                       updated=datetime.datetime.now().isoformat(timespec="minutes"))
        results.setdefault("peer_versions", {})
        runnable = usable_tools(tools, directions, results, args.venvs, peer_problems)
        for d in directions:
            # repeats interleave the tools, so a change in the machine's load hits them alike
            best: dict[str, dict] = {}
            for rep in range(args.repeat):
                for tool in runnable:
                    if rep >= (args.repeat if tool in REPEATED else 1) or \
                            "error" in best.get(tool, {}):
                        continue
                    run = run_once(tool, d, rep, data, work, scratch, args.timeout, args.venvs)
                    best[tool] = results["runs"][f"{tool}/{d}"] = _better(best.get(tool), run)
                    save_results(out, results)
        save_results(out, results)
        if not args.no_readme:
            update_readme(n, results)
        print(table(results), flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "--child":
        child(*sys.argv[2:])
    else:
        main()
