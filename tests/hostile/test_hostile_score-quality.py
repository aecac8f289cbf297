"""Hostile --backbone values for annokit score: one clear line, exit 2, nothing written."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness import annokit, one_line_error, snapshot, temporaries


def tiny_coco(root: Path) -> Path:
    rng = np.random.default_rng(0)
    (root / "images").mkdir()
    images, anns = [], []
    for i in range(1, 5):
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
            root / "images" / f"im{i}.png")
        images.append({"id": i, "file_name": f"im{i}.png", "width": 64, "height": 64})
        anns.append({"id": i, "image_id": i, "category_id": 1, "bbox": [8, 8, 20, 20],
                     "area": 400, "iscrowd": 0})
    path = root / "data.json"
    path.write_text(json.dumps({"images": images, "annotations": anns,
                                "categories": [{"id": 1, "name": "thing"}]}))
    return path


def _torch_and_lite0() -> bool:
    from annokit.score.backbones import available

    return available()


CASES = {
    "missing onnx": (["--backbone", "nowhere.onnx"], "nowhere.onnx"),
    "onnx that is text": (["--backbone", "fake.onnx"], "fake.onnx"),
    "unknown timm name": (["--backbone", "no_such_net_x"], "no_such_net_x"),
    "backbone without pretrained": (["--model", "classic", "--backbone", "lite0"], "--backbone"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_backbone_is_one_line(tmp_path: Path, case: str):
    if case != "backbone without pretrained" and not _torch_and_lite0():
        pytest.skip("torch and the Lite0 weights are not installed")
    data = tiny_coco(tmp_path)
    (tmp_path / "fake.onnx").write_text("not a model\n")
    args, names = CASES[case]
    before = snapshot(tmp_path)
    code, _, err = annokit("score", data, *args, "--out", "scores.json", cwd=tmp_path)
    assert code == 2, err
    one_line_error(err, names)
    assert snapshot(tmp_path) == before  # no scores file, nothing touched
    assert not temporaries(tmp_path)
