"""The ``annokit ...`` commands of README.md, and a folder in which every one of them runs.

:func:`commands` reads README.md's ```bash blocks (plain ``` blocks are synopses with
placeholders such as ``SRC_FORMAT``; ```python is the API); :func:`workspace` builds every
path those commands name (``data/voc``, ``detections.json``, ``runs/predict``, ...) from the
repository's fixtures, through annokit's own library, so a README example that stops working
fails ``tests/test_readme_examples.py``.
"""
from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
SHAPES = FIXTURES / "shapes" / "voc"

# Commands that cannot run in a test, and why (the test reports each as skipped).
NOT_RUN = {
    "browse": "starts the FiftyOne App server and opens a browser (tests/test_fiftyone.py "
              "builds the same dataset with --no-launch)",
    "fiftyone-export": "needs the FiftyOne dataset that `annokit browse` stores in FiftyOne's "
                       "MongoDB server (tests/test_fiftyone.py exports one)",
}


def commands(readme: Path = ROOT / "README.md") -> list[tuple[int, str, list[str]]]:
    """Every ``annokit`` command in README.md's bash blocks: (block number, the command as
    written, its arguments after ``annokit``). ``.venv/bin/annokit`` counts as ``annokit``;
    other programs on the line (``pip``, ``pytest``) are not annokit's to test.

    Example:
        >>> commands()[0][2][:3]  # doctest: +SKIP
        ['convert', 'voc', 'coco']
    """
    found = []
    blocks = re.findall(r"^```bash\n(.*?)^```", readme.read_text(encoding="utf-8"),
                        flags=re.S | re.M)
    for number, block in enumerate(blocks):
        for line in block.replace("\\\n", " ").splitlines():
            for part in line.split("&&"):
                words = shlex.split(part, comments=True)
                if words and Path(words[0]).name == "annokit":
                    found.append((number, shlex.join(words), words[1:]))
    return found


def workspace(root: Path) -> Path:
    """Build, under ``root``, every input the README's commands name; return ``root``.

    Example:
        >>> workspace(tmp_path / "w")  # doctest: +SKIP
    """
    import annokit

    root.mkdir(parents=True, exist_ok=True)
    shapes = annokit.read(SHAPES)
    for where in ("fixtures/shapes/voc", "data/voc", "VOCdevkit/VOC2012"):
        shutil.copytree(SHAPES, root / where)
    _as_video_frames(root / "data" / "voc")  # for `split --group-by '^(video\d+)_'`
    # COCO: the standard root (annotations/<split>.json, images/) and a lone file
    annokit.write(shapes, root / "data" / "coco", "coco", images="copy")
    annokit.write(shapes, root / "annotations" / "instances_val2017.json", "coco")
    shutil.copytree(SHAPES / "JPEGImages", root / "val2017")
    shutil.copytree(FIXTURES / "coco" / "roboflow", root / "roboflow-export")
    annokit.write(shapes, root / "data" / "yolo", "yolo", images="copy")
    (root / "qc.toml").write_text('fail_on = "never"\n\n[thresholds]\nmin_box_area = 36\n')
    _detections(root / "data" / "coco" / "annotations" / "instances_val.json",
                root / "detections.json")
    _detections(root / "data" / "coco", root / "results.json")
    _yolo_predictions(root / "data" / "yolo", root / "runs" / "predict")
    _labels(root)
    annokit.write(shapes, root / "data" / "digits", "imagefolder", crops=True)
    _counts(shapes, root)
    return root


def _counts(shapes, root: Path) -> None:
    """``counts.csv``: the shapes' boxes as centre points, with the images beside it."""
    import annokit
    from annokit.points import boxes_to_points

    annokit.write(boxes_to_points(shapes), root / "counts.csv", "csv")
    for image in (SHAPES / "JPEGImages").iterdir():
        shutil.copy(image, root / image.name)


def _as_video_frames(voc: Path) -> None:
    """Rename the shapes VOC root's images ``video<k>_shapes_<n>`` (two frames a video),
    in file names, XML and ImageSets alike."""
    def renamed(text: str) -> str:
        return re.sub(r"\bshapes_(\d+)", lambda m: f"video{int(m[1]) // 2}_shapes_{m[1]}", text)

    for path in sorted(voc.rglob("*"), reverse=True):  # files before their folders
        if path.suffix in (".xml", ".txt"):
            path.write_text(renamed(path.read_text()))
        if path.is_file() and renamed(path.name) != path.name:
            path.rename(path.with_name(renamed(path.name)))


def _detections(ground_truth: Path, out: Path) -> None:
    """A COCO results list on ``ground_truth``'s ids: every box moved a little, scored, and
    one in four left out (a detector's output, with misses)."""
    import annokit

    gt = annokit.read(ground_truth)
    rng = np.random.default_rng(0)
    anns = gt.annotations[gt.annotations["kind"] == "box"]
    boxes = anns[["x", "y", "w", "h"]].to_numpy(float) + rng.normal(0, 1.5, (len(anns), 4))
    keep = rng.random(len(anns)) > 0.25
    results = [{"image_id": int(i), "category_id": int(c), "score": round(float(s), 3),
                "bbox": [round(float(v), 2) for v in box]}
               for i, c, s, box, k in zip(anns["image_id"], anns["category_id"],
                                          rng.uniform(0.3, 1.0, len(anns)), boxes, keep) if k]
    out.write_text(json.dumps(results))


def _yolo_predictions(dataset: Path, out: Path) -> None:
    """``dataset`` (YOLO) with a confidence column on every label line, as Ultralytics'
    ``save_conf=True`` writes."""
    shutil.copytree(dataset, out)
    rng = np.random.default_rng(1)
    for label in sorted(out.glob("labels/**/*.txt")):
        lines = label.read_text().splitlines()
        label.write_text("".join(f"{line} {rng.uniform(0.3, 1.0):.3f}\n" for line in lines))


def _labels(root: Path) -> None:
    """labels.csv (image labels) and predicted.csv (the same with one label wrong)."""
    rows = (FIXTURES / "csv" / "label.csv").read_text().splitlines()
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    header, first, *rest = rows
    name, label = first.rsplit(",", 1)
    other = next(r.rsplit(",", 1)[1] for r in rest if r.rsplit(",", 1)[1] != label)
    (root / "predicted.csv").write_text("\n".join([header, f"{name},{other}", *rest]) + "\n")
