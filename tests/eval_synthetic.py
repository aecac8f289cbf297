"""A synthetic COCO ground truth and results list for detection evaluation, by seed.

Made to exercise COCOeval's corners: image, category and annotation ids with gaps,
crowd regions (RLE, iscrowd=1), polygons and RLE masks, images with no ground truth, images
with no predictions, tied scores, class confusions, duplicates and background detections.
Used by tests/test_evaluate_detection.py and baselines/eval_bench.py.
"""
from __future__ import annotations

import numpy as np
from pycocotools import mask as mask_utils

CATEGORIES = [{"id": 1, "name": "cell", "supercategory": "blood"},
              {"id": 3, "name": "platelet", "supercategory": "blood"},
              {"id": 7, "name": "virus", "supercategory": "other"},
              {"id": 12, "name": "debris", "supercategory": "other"}]


def _polygon(x, y, w, h, rng, points=8) -> list[float]:
    """A polygon inside the box: an ellipse's points, a little irregular."""
    angle = np.linspace(0, 2 * np.pi, points, endpoint=False)
    r = rng.uniform(0.75, 1.0, points)
    px = x + w / 2 + np.cos(angle) * r * w / 2
    py = y + h / 2 + np.sin(angle) * r * h / 2
    return np.round(np.column_stack([px, py]).ravel(), 2).tolist()


def _rle(x, y, w, h, width, height) -> dict:
    m = np.zeros((height, width), dtype=np.uint8, order="F")
    m[int(y):int(np.ceil(y + h)), int(x):int(np.ceil(x + w))] = 1
    rle = mask_utils.encode(m)
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}


def synthetic_pair(n_images: int = 60, seed: int = 0, masks: bool = True
                   ) -> tuple[dict, list[dict]]:
    """(ground-truth COCO dict, results list). ``masks`` adds segmentations to both."""
    rng = np.random.default_rng(seed)
    images, anns, results = [], [], []
    ann_id = 5
    cat_ids = [c["id"] for c in CATEGORIES]
    for i in range(n_images):
        width, height = int(rng.integers(160, 480)), int(rng.integers(120, 400))
        image_id = 3 * i + 7  # gaps
        images.append({"id": image_id, "file_name": f"img_{image_id:05d}.jpg",
                       "width": width, "height": height})
        n = int(rng.choice([0, 1, 2, 3, 5, 8], p=[.15, .2, .2, .2, .15, .1]))
        for _ in range(n):
            w = float(np.round(rng.uniform(4, width / 2), 1))
            h = float(np.round(rng.uniform(4, height / 2), 1))
            x = float(np.round(rng.uniform(0, width - w), 1))
            y = float(np.round(rng.uniform(0, height - h), 1))
            cat = int(rng.choice(cat_ids))
            crowd = int(rng.uniform() < 0.06)
            ann = {"id": ann_id, "image_id": image_id, "category_id": cat,
                   "bbox": [x, y, w, h], "iscrowd": crowd}
            if crowd:
                ann["segmentation"] = _rle(x, y, w, h, width, height)
            else:
                ann["segmentation"] = [_polygon(x, y, w, h, rng)]
            ann["area"] = float(mask_utils.area(_as_rle(ann["segmentation"], height, width)))
            if not masks:
                ann["area"] = w * h if not crowd else ann["area"]
            anns.append(ann)
            ann_id += int(rng.integers(1, 4))  # gaps
            results.extend(_detections(ann, image_id, width, height, cat_ids, rng, masks))
        if rng.uniform() < 0.3:  # background detections, on images with or without objects
            for _ in range(int(rng.integers(1, 4))):
                w, h = rng.uniform(5, width / 3), rng.uniform(5, height / 3)
                box = [float(rng.uniform(0, width - w)), float(rng.uniform(0, height - h)),
                       float(w), float(h)]
                results.append(_result(image_id, int(rng.choice(cat_ids)), box,
                                       round(float(rng.uniform(0.05, 0.6)), 2), rng, masks,
                                       (width, height)))
    if not masks:
        for a in anns:
            if not a["iscrowd"]:
                del a["segmentation"]
    order = rng.permutation(len(results))  # a results file is in no particular order
    return ({"images": images, "annotations": anns, "categories": CATEGORIES},
            [results[i] for i in order])


def _as_rle(seg, height, width):
    if isinstance(seg, dict):
        return seg
    return mask_utils.merge(mask_utils.frPyObjects(seg, height, width))


def _detections(ann, image_id, width, height, cat_ids, rng, masks) -> list[dict]:
    out = []
    if ann["iscrowd"] or rng.uniform() < 0.15:  # missed
        return out
    for copy in range(1 + int(rng.uniform() < 0.15)):  # sometimes a duplicate
        x, y, w, h = ann["bbox"]
        jitter = rng.normal(0, 0.06, 4) * [w, h, w, h]
        nw, nh = max(w + jitter[2], 2.0), max(h + jitter[3], 2.0)
        nx = float(np.clip(x + jitter[0], 0, width - nw))
        ny = float(np.clip(y + jitter[1], 0, height - nh))
        cat = ann["category_id"] if rng.uniform() > 0.1 else int(rng.choice(cat_ids))
        score = round(float(rng.uniform(0.3, 1.0)) - 0.2 * copy, 2)  # 2 decimals: ties
        out.append(_result(image_id, cat, [nx, ny, float(nw), float(nh)], score, rng, masks,
                           (width, height)))
    return out


def _result(image_id, cat, box, score, rng, masks, size) -> dict:
    r = {"image_id": image_id, "category_id": cat, "bbox": [round(v, 2) for v in box],
         "score": score}
    if masks:  # polygons, or RLE as mask heads write them
        r["segmentation"] = [_polygon(*r["bbox"], rng)] if rng.uniform() < 0.5 else \
            _rle(*r["bbox"], *size)
    return r
