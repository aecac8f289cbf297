"""annokit <-> FiftyOne with the real FiftyOne, its MongoDB, its App server and Chromium.

Every test session gets its own FiftyOne database (a fresh name, and a data folder in
tmp): FiftyOne shares one MongoDB per user, so the name is what keeps these tests off
~/.fiftyone and off anyone else's datasets. The session drops it at the end and stops
the App.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import annokit
from annokit.errors import AnnokitError
from browser import CHROMIUM, chromium
from conftest import ROOT, assert_same_content, run_cli, shared_dataset

# FiftyOne and its dependencies warn about their own deprecations
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
ARTEFACTS = ROOT / "out" / "artefacts"


@pytest.fixture(scope="module")
def bccd():
    return annokit.read(shared_dataset("bccd", "BCCD"))


def _planted(ds):
    """BCCD with planted problems: a repeated box, a box outside its image, and an RBC
    relabelled to WBC on the first image; returns the dataset and the planted ids."""
    ds = ds.copy()
    a = ds.annotations
    first = int(ds.images["id"].iloc[0])
    row = a[a["image_id"].eq(first)].iloc[[0]]
    top = int(a["id"].max())
    dup = row.assign(id=top + 1)
    outside = row.assign(id=top + 2, x=5000.0, y=5000.0)
    ds.annotations = pd.concat([a, dup, outside], ignore_index=True)
    return ds, {"image": first, "dup_of": int(row["id"].iloc[0]), "dup": top + 1,
                "outside": top + 2}


def _scores(ds, worst_image):
    """A scorer-shaped result (the contract's columns) with one chosen worst image, one
    swap and one overlooked candidate."""
    a = ds.annotations
    quality = np.linspace(0.9, 0.99, len(a))
    issue = np.array([None] * len(a), dtype=object)
    quality[5], issue[5] = 0.01, "swap"
    rows = pd.DataFrame({
        "annotation_id": pd.array(a["id"], dtype="Int64"), "image_id": a["image_id"],
        "category_id": pd.array(a["category_id"], dtype="Int64"), "quality": quality,
        "issue": issue, "suggested_category_id": pd.array([pd.NA] * len(a), dtype="Int64"),
        "suggested_x": np.nan, "suggested_y": np.nan, "suggested_w": np.nan,
        "suggested_h": np.nan})
    rows.loc[5, "suggested_category_id"] = int(ds.categories["id"].iloc[0])
    extra = pd.DataFrame({
        "annotation_id": pd.array([pd.NA], dtype="Int64"), "image_id": [worst_image],
        "category_id": pd.array([int(ds.categories["id"].iloc[1])], dtype="Int64"),
        "quality": [0.2], "issue": ["overlooked"],
        "suggested_category_id": pd.array([pd.NA], dtype="Int64"),
        "suggested_x": [10.0], "suggested_y": [20.0], "suggested_w": [30.0],
        "suggested_h": [40.0]})
    images = pd.DataFrame({"image_id": ds.images["id"],
                           "quality": np.where(ds.images["id"].eq(worst_image), 0.05, 0.8),
                           "n_issues": 0})
    return SimpleNamespace(annotations=pd.concat([rows, extra], ignore_index=True),
                           images=images, skipped=[], task="detection")


# -- without FiftyOne -------------------------------------------------------------------

def test_missing_fiftyone_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "fiftyone", None)  # import fiftyone -> ImportError
    shapes = annokit.read(ROOT / "fixtures" / "shapes" / "voc")
    with pytest.raises(AnnokitError, match=r"pip install 'annokit\[fiftyone\]'"):
        annokit.to_fiftyone(shapes, "x")
    code, _, err = run_cli("fiftyone-export", "x", "out", "--format", "coco")
    assert code == 2
    assert err.strip() == ("annokit: error: FiftyOne is not installed: "
                           "pip install 'annokit[fiftyone]'")


def test_the_package_keeps_its_public_names():
    """The split into modules kept what annokit, the CLI and users import."""
    from annokit.integrations import fiftyone as bridge

    for name in bridge.__all__:
        assert getattr(bridge, name) is not None, name
    assert annokit.to_fiftyone is bridge.to_fiftyone
    assert annokit.from_fiftyone is bridge.from_fiftyone


def test_import_annokit_stays_light():
    code = "import sys, annokit; print('fiftyone' in sys.modules, 'pymongo' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["False", "False"]


def test_the_fo_fixture_restores_the_environment_when_it_skips(tmp_path):
    """fiftyone imported before the session could name its database: the ``fo`` fixture
    skips, stops the mongod it started, and the tests after it see none of its settings."""
    if importlib.util.find_spec("fiftyone") is None:  # not importorskip: importing it
        pytest.skip("the fiftyone extra is not installed")  # here would skip the fo tests
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_env.py").write_text(
        "import os\n"
        "import fiftyone  # imported first: the fixture cannot name the database\n\n\n"
        "def test_uses(fo):\n    pass\n\n\n"
        "def test_after():\n"
        "    assert [k for k in os.environ if k.startswith('FIFTYONE_')] == []\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIFTYONE_")}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-rs", str(tmp_path / "test_env.py")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert "1 passed, 1 skipped" in done.stdout, done.stdout + done.stderr
    assert "imported before this session could give it a private database" in done.stdout


def test_the_fiftyone_tested_is_within_the_extras_bound(fo):
    """The bulk insert uses FiftyOne internals (store._insert_documents): the ``fiftyone``
    extra allows only the versions these tests ran on."""
    from packaging.requirements import Requirement

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["fiftyone"]
    bound = next(Requirement(r) for r in extra if Requirement(r).name == "fiftyone")
    assert bound.specifier.contains(fo.__version__), (fo.__version__, str(bound))
    assert any(s.operator == "<" for s in bound.specifier), "an upper bound"


# -- building -----------------------------------------------------------------------------

def test_bccd_with_planted_findings_and_scores(fo, bccd):
    ds, planted = _planted(bccd)
    found = annokit.check(ds, images=False)
    worst = int(ds.images["id"].iloc[40])
    fo_ds = annokit.to_fiftyone(ds, "planted", findings=found, scores=_scores(ds, worst))
    assert len(fo_ds) == 364 and fo_ds.count("ground_truth.detections") == 4888 + 2

    # samples are worst first: the scorer's worst image, then by quality
    first = fo_ds.first()
    assert first["annokit_id"] == worst and first["quality"] == pytest.approx(0.05)
    view = fo_ds.load_saved_view("annokit worst first")
    assert view.first()["annokit_id"] == worst

    # every finding is a tag on its image and on its box; counts per image agree
    dets = {d["annokit_id"]: d for d in
            fo_ds.match({"annokit_id": planted["image"]}).first()["ground_truth"].detections}
    assert "annokit:geometry.exact_duplicate" in dets[planted["dup"]].tags
    assert "annokit:geometry.fully_outside" in dets[planted["outside"]].tags
    sample = fo_ds.match({"annokit_id": planted["image"]}).first()
    assert {"annokit:geometry.exact_duplicate", "annokit:geometry.fully_outside"} <= set(
        sample.tags)
    # and a field with each finding's line, on the box and on the image
    mine = found[found["annotation_id"].eq(planted["outside"])]
    lines = [f"{c}: {m}" for c, m in zip(mine["check"], mine["message"])]
    assert dets[planted["outside"]]["findings"] == lines and lines
    assert set(lines) <= set(sample["findings"])
    assert len(sample["findings"]) == sample["n_findings"]
    per_image = found.dropna(subset=["image_id"]).groupby("image_id").size()
    n_findings = dict(zip(*fo_ds.values(["annokit_id", "n_findings"])))
    assert all(n_findings[int(i)] == n for i, n in per_image.items())

    # a saved view per check that fired, holding exactly the images it flagged
    for check, rows in found.dropna(subset=["image_id"]).groupby("check"):
        view = fo_ds.load_saved_view(f"check {check}")
        assert sorted(view.values("annokit_id")) == sorted(rows["image_id"].unique().tolist())
    zero = fo_ds.load_saved_view("check geometry.zero_size")
    assert sorted(zero.values("file_name")) == ["BloodImage_00338.jpg", "BloodImage_00343.jpg"]

    # the scorer's quality and issue on each box, a view per issue type, the candidate
    swapped = int(ds.annotations["id"].iloc[5])
    swap = fo_ds.load_saved_view("issue swap")
    assert swap.values("ground_truth.detections.annokit_id", unwind=True) == [swapped]
    assert swap.values("ground_truth.detections.issue", unwind=True) == ["swap"]
    assert swap.values("ground_truth.detections.suggested_label", unwind=True) == [
        ds.categories["name"].iloc[0]]
    assert "annokit:issue:swap" in swap.values("ground_truth.detections.tags", unwind=True)
    qualities = fo_ds.values("ground_truth.detections.quality", unwind=True)
    assert min(qualities) == pytest.approx(0.01) and len(qualities) == 4890
    overlooked = fo_ds.match({"annokit_id": worst}).first()["overlooked"].detections
    assert [(d.label, d.issue) for d in overlooked] == [(ds.categories["name"].iloc[1],
                                                         "overlooked")]
    assert overlooked[0].bounding_box == pytest.approx([10 / 640, 20 / 480, 30 / 640, 40 / 480])

    # sample fields, and the schema the App filters on
    assert fo_ds.count_values("split") == ds.images["split"].value_counts().to_dict()
    schema = fo_ds.get_field_schema(flat=True)
    for field in ("ground_truth.detections.issue", "ground_truth.detections.quality",
                  "ground_truth.detections.findings", "findings",
                  "ground_truth.detections.annokit_id", "ground_truth.detections.truncated",
                  "quality", "n_findings", "split", "file_name"):
        assert field in schema, field
    assert fo_ds.default_classes == ["WBC", "RBC", "Platelets"]
    assert Path(first.filepath).is_absolute() and Path(first.filepath).is_file()


def test_scores_from_the_scorers_json(fo, bccd, tmp_path):
    """The scorer's file: COCO with quality/issue on annotations and quality on images."""
    ds = bccd
    small = annokit.Dataset(ds.categories, ds.images.iloc[:5],
                            ds.annotations[ds.annotations["image_id"].isin(ds.images["id"][:5])],
                            ds.meta)
    path = tmp_path / "scores.json"
    annokit.write(small, path, "coco")
    data = json.loads(path.read_text())
    for k, ann in enumerate(data["annotations"]):
        ann["quality"], ann["issue"] = (0.1, "badloc") if k == 2 else (0.9, None)
    data["annotations"].append({"id": 99999, "image_id": data["images"][0]["id"],
                                "category_id": 2, "bbox": [1, 2, 3, 4], "area": 12,
                                "iscrowd": 0, "quality": 0.3, "issue": "overlooked"})
    for k, im in enumerate(data["images"]):
        im["quality"] = 0.1 * (k + 1)
    path.write_text(json.dumps(data))
    fo_ds = annokit.to_fiftyone(small, "scored-json", scores=path)
    assert fo_ds.values("quality") == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    assert fo_ds.count_values("ground_truth.detections.issue") == {
        None: len(small.annotations) - 1, "badloc": 1}
    assert fo_ds.count("overlooked.detections") == 1
    assert fo_ds.load_saved_view("issue badloc").count("ground_truth.detections") == 1


def test_scores_from_the_scorers_table(fo, bccd, tmp_path):
    """The scorer's .csv: the annotations table with an image_quality column."""
    ds = annokit.Dataset(bccd.categories, bccd.images.iloc[:6],
                         bccd.annotations[bccd.annotations["image_id"].isin(
                             bccd.images["id"][:6])], bccd.meta)
    worst = int(ds.images["id"].iloc[3])
    scores = _scores(ds, worst)
    table = scores.annotations.assign(image_quality=scores.annotations["image_id"].map(
        scores.images.set_index("image_id")["quality"]))
    table.to_csv(tmp_path / "scores.csv", index=False)
    fo_ds = annokit.to_fiftyone(ds, "scored-csv", scores=tmp_path / "scores.csv")
    assert fo_ds.first()["annokit_id"] == worst
    assert fo_ds.count_values("ground_truth.detections.issue") == {
        None: len(ds.annotations) - 1, "swap": 1}
    assert fo_ds.count("overlooked.detections") == 1
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(AnnokitError, match=r"bad.csv: no annotation_id, image_id, "
                                           r"category_id, quality, issue, image_quality"):
        annokit.to_fiftyone(ds, "bad-scores", scores=tmp_path / "bad.csv")


def test_bulk_documents_equal_fiftyones_own(fo, bccd):
    """The bulk path writes what fo.Sample + add_samples would: same values, same schema."""
    ds, _ = _planted(bccd)
    ds = annokit.Dataset(ds.categories, ds.images.iloc[:30],
                         ds.annotations[ds.annotations["image_id"].isin(ds.images["id"][:30])],
                         ds.meta)
    found = annokit.check(ds, images=False)
    bulk = annokit.to_fiftyone(ds, "bulk", findings=found, scores=_scores(ds, 3))
    public = annokit.to_fiftyone(ds, "public", findings=found, scores=_scores(ds, 3),
                                 bulk=False)
    skip = {"id", "created_at", "last_modified_at"}
    schema = {k: type(v).__name__ for k, v in bulk.get_field_schema(flat=True).items()}
    assert schema == {k: type(v).__name__ for k, v in public.get_field_schema(flat=True).items()}
    leaves = [f for f in schema if not any(g.startswith(f + ".") for g in schema)]
    for field in leaves:
        if field.split(".")[-1] not in skip:
            assert bulk.values(field) == public.values(field), field
    assert len(leaves) > 25
    # the stored documents, as FiftyOne serialises them (public: Sample.to_mongo_dict)
    for raw, own in zip(bulk.iter_samples(), public.iter_samples()):
        assert _shape(raw.to_mongo_dict()) == _shape(own.to_mongo_dict())


def _shape(doc):
    """A document's keys and value types, ids and times left out."""
    if isinstance(doc, dict):
        return {k: _shape(v) for k, v in doc.items()
                if k not in ("_id", "_dataset_id", "_rand", "created_at", "last_modified_at")}
    if isinstance(doc, list):
        return [_shape(v) for v in doc]
    return type(doc).__name__


def test_existing_name_is_refused_without_overwrite(fo, bccd):
    small = annokit.Dataset(bccd.categories, bccd.images.iloc[:2], None, bccd.meta)
    annokit.to_fiftyone(small, "twice")
    with pytest.raises(AnnokitError, match="'twice' exists .*--overwrite"):
        annokit.to_fiftyone(small, "twice")
    assert len(annokit.to_fiftyone(small, "twice", overwrite=True)) == 2


def test_file_names_escaping_the_root_are_left_out(fo, tmp_path):
    (tmp_path / "imgs").mkdir()
    from PIL import Image

    Image.new("RGB", (40, 30)).save(tmp_path / "imgs" / "a.jpg")
    Image.new("RGB", (40, 30)).save(tmp_path / "secret.jpg")
    ds = annokit.Dataset(
        pd.DataFrame({"id": [1], "name": ["x"]}),
        pd.DataFrame({"id": [1, 2, 3], "file_name": ["a.jpg", "../secret.jpg", "gone.jpg"],
                      "width": [40, None, None], "height": [30, None, None]}),
        pd.DataFrame({"image_id": [1, 2, 3], "category_id": [1, 1, 1], "x": [1.0] * 3,
                      "y": [1.0] * 3, "w": [5.0] * 3, "h": [5.0] * 3}),
        {"image_root": str(tmp_path / "imgs")})
    fo_ds = annokit.to_fiftyone(ds, "escape")
    assert fo_ds.values("file_name") == ["a.jpg", "gone.jpg"]
    assert fo_ds.count("ground_truth.detections") == 1
    assert [n["text"] for n in fo_ds.info["annokit"]["notes"]] == [
        "../secret.jpg: file name escapes the image root; image left out",
        "gone.jpg: image size unknown (is the image there?); its 1 objects left out"]


def test_a_dataset_made_in_fiftyone_comes_back(fo, tmp_path):
    """No annokit info: categories are numbered, file names are relative to the
    common folder, sizes come from the image headers."""
    from PIL import Image

    images = tmp_path / "imgs"
    (images / "a").mkdir(parents=True)
    Image.new("RGB", (200, 100)).save(images / "a" / "one.jpg")
    Image.new("RGB", (50, 40)).save(images / "two.jpg")
    plain = fo.Dataset("made-in-fiftyone")
    plain.add_samples([
        fo.Sample(filepath=str(images / "a" / "one.jpg"), ground_truth=fo.Detections(
            detections=[fo.Detection(label="cat", bounding_box=[0.1, 0.2, 0.5, 0.5]),
                        fo.Detection(label="dog", bounding_box=[0, 0, 1, 1])])),
        fo.Sample(filepath=str(images / "two.jpg"), tags=["reviewed"])])
    ds = annokit.from_fiftyone(plain)
    assert ds.categories["name"].tolist() == ["cat", "dog"]
    assert ds.categories["id"].tolist() == [1, 2]
    assert ds.images["file_name"].tolist() == ["a/one.jpg", "two.jpg"]
    assert ds.images[["width", "height"]].values.tolist() == [[200, 100], [50, 40]]
    assert ds.images["reviewed"].tolist() == [False, True]
    assert ds.annotations[["x", "y", "w", "h"]].values.tolist() == [[20, 20, 100, 50],
                                                                    [0, 0, 200, 100]]
    assert ds.annotations["id"].tolist() == [1, 2]
    assert Path(ds.image_paths()[0]) == images / "a" / "one.jpg"
    # FiftyOne's importers name the field otherwise; images without labels come back too
    plain.rename_sample_field("ground_truth", "detections")
    assert len(annokit.from_fiftyone(plain, label_field="detections").annotations) == 2
    assert annokit.from_fiftyone(plain).summary_line() == "2 images, 0 annotations, 0 categories"
    _, _, err = run_cli("fiftyone-export", "made-in-fiftyone", tmp_path / "out", "--format",
                        "coco", "--label-field", "nope")
    assert err == "annokit: error: FiftyOne dataset 'made-in-fiftyone' has no field 'nope'\n"


# -- the round trip on every real dataset -------------------------------------------------

REAL = {
    "bccd": (("bccd", "BCCD"), {}),
    "raccoon": (("raccoon", "annotations"), {"image_root": ("raccoon", "images")}),
    "sign_language_digits": (("sign_language_digits", "Dataset"), {}),
    "yolo_mark": (("yolo_mark_darknet_sample", "x64", "Release", "data"), {}),
    "labelme_coco": (("labelme_examples", "examples", "instance_segmentation",
                      "data_dataset_coco", "annotations.json"), {}),
    "labelme_voc": (("labelme_examples", "examples", "bbox_detection", "data_dataset_voc"), {}),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(REAL))
def test_round_trip_every_real_dataset(fo, name):
    where, options = REAL[name]
    options = {k: shared_dataset(*v) for k, v in options.items()}
    ds = annokit.read(shared_dataset(*where), **options)
    back = annokit.from_fiftyone(annokit.to_fiftyone(ds, f"rt-{name}"))
    attrs = [c for c in ds.annotations.columns if c not in
             ("id", "image_id", "category_id", "kind", "x", "y", "w", "h", "segmentation",
              "score")]
    assert_same_content(ds, back, columns=attrs, keep_ids=True)
    pd.testing.assert_frame_equal(back.categories, ds.categories, check_dtype=False)
    extra = [c for c in ds.images.columns if c not in ("id",)]
    merged = ds.images.merge(back.images, on="id", suffixes=("", "_back"))
    for col in extra:
        assert merged[col].astype(object).where(merged[col].notna(), None).tolist() == \
            merged[col + "_back"].astype(object).where(merged[col + "_back"].notna(),
                                                       None).tolist(), col
    polygons = ds.annotations["segmentation"].map(lambda s: isinstance(s, list))
    if polygons.any():
        pairs = ds.annotations.merge(back.annotations, on="id")
        for a, b in zip(pairs["segmentation_x"], pairs["segmentation_y"]):
            assert len(a) == len(b)
            for pa, pb in zip(a, b):
                np.testing.assert_allclose(pa, pb, atol=1e-6)


def test_points_and_rle_come_back(fo, bccd):
    from annokit.points import boxes_to_points

    ds = annokit.Dataset(bccd.categories, bccd.images.iloc[:3],
                         bccd.annotations[bccd.annotations["image_id"].isin(
                             bccd.images["id"][:3])], bccd.meta)
    points = boxes_to_points(ds)
    points.annotations["score"] = np.linspace(0.5, 1, len(points.annotations))
    back = annokit.from_fiftyone(annokit.to_fiftyone(points, "points"))
    assert_same_content(points, back, keep_ids=True)
    np.testing.assert_allclose(back.annotations.sort_values("id")["score"],
                               points.annotations.sort_values("id")["score"])
    rle = {"size": [480, 640], "counts": "PPYo0"}
    boxes = ds.copy()
    boxes.annotations["segmentation"] = [rle] + [None] * (len(boxes.annotations) - 1)
    back = annokit.from_fiftyone(annokit.to_fiftyone(boxes, "rle"))
    first = back.annotations.set_index("id").loc[int(boxes.annotations["id"].iloc[0])]
    assert first["segmentation"] == rle


def test_odd_column_names_round_trip(fo, bccd):
    """Columns FiftyOne could not hold under their own names travel renamed and come
    back under their own."""
    ds = annokit.Dataset(bccd.categories, bccd.images.iloc[:2],
                         bccd.annotations[bccd.annotations["image_id"].isin(
                             bccd.images["id"][:2])], bccd.meta)
    ds.annotations["a.b"] = 1.5
    ds.annotations["$x"] = "odd"
    ds.annotations["label"] = "shadows FiftyOne's label"
    ds.images["_private"] = 7
    ds.images["tags"] = "shadows FiftyOne's tags"
    fo_ds = annokit.to_fiftyone(ds, "odd-names")
    schema = fo_ds.get_field_schema(flat=True)
    assert {"ground_truth.detections.annokit_a_b", "ground_truth.detections.annokit__x",
            "ground_truth.detections.annokit_label", "annokit__private",
            "annokit_tags"} <= set(schema)
    back = annokit.from_fiftyone(fo_ds)
    assert_same_content(ds, back, columns=["a.b", "$x", "label"], keep_ids=True)
    assert back.images["_private"].tolist() == [7, 7]
    assert back.images["tags"].tolist() == ["shadows FiftyOne's tags"] * 2


def test_predictions_become_a_field(fo, bccd):
    ds = annokit.Dataset(bccd.categories, bccd.images.iloc[:4],
                         bccd.annotations[bccd.annotations["image_id"].isin(
                             bccd.images["id"][:4])], bccd.meta)
    pred = ds.copy()
    pred.annotations["score"] = 0.75
    pred.annotations["x"] += 2
    fo_ds = annokit.to_fiftyone(ds, "with-predictions", predictions=pred)
    assert fo_ds.count("predictions.detections") == len(ds.annotations)
    from annokit.integrations.fiftyone import protected_paths

    bccd_root = os.path.realpath(shared_dataset("bccd", "BCCD"))
    assert fo_ds.info["annokit"]["provenance"]["predictions"] == bccd_root
    assert protected_paths(fo_ds) == (bccd_root, os.path.join(bccd_root, "JPEGImages"))
    assert set(fo_ds.values("predictions.detections.confidence", unwind=True)) == {0.75}
    back = annokit.from_fiftyone(fo_ds)  # predictions stay in FiftyOne
    assert_same_content(ds, back, keep_ids=True)


# -- edits in FiftyOne come back ----------------------------------------------------------

def test_edits_through_fiftyone_come_back_in_the_exported_file(fo, bccd, tmp_path):
    code, out, err = run_cli("browse", shared_dataset("bccd", "BCCD"), "--no-launch",
                             "--no-images", "--name", "edit")
    assert code == 0, err
    assert out.startswith("FiftyOne dataset 'edit': 364 samples, 4888 boxes, ")
    fo_ds = fo.load_dataset("edit")
    sample = fo_ds.match({"file_name": "BloodImage_00000.jpg"}).first()
    dets = sample["ground_truth"].detections
    relabelled, moved, deleted = dets[0], dets[1], dets[2]
    ids = [d["annokit_id"] for d in (relabelled, moved, deleted)]
    relabelled.label = "Platelets"
    moved.bounding_box = [0.25, 0.5, 0.125, 0.25]
    dets.remove(deleted)
    dets.append(fo.Detection(label="WBC", bounding_box=[0.5, 0.5, 0.25, 0.25]))
    dets.append(fo.Detection(label="Neutrophil", bounding_box=[0.1, 0.1, 0.1, 0.1]))
    sample.tags.append("reviewed")
    sample.save()

    out = tmp_path / "fixed.json"
    code, printed, err = run_cli("fiftyone-export", "edit", out, "--format", "coco")
    assert code == 0, err
    assert "1 images reviewed" in printed + err
    coco = json.loads(out.read_text())
    cats = {c["name"]: c["id"] for c in coco["categories"]}
    assert cats["WBC"] == 1 and cats["RBC"] == 2 and cats["Platelets"] == 3  # ids kept
    assert cats["Neutrophil"] == 4                                            # a new class
    image = next(im for im in coco["images"] if im["file_name"] == "BloodImage_00000.jpg")
    assert image["reviewed"] is True
    anns = {a["id"]: a for a in coco["annotations"] if a["image_id"] == image["id"]}
    assert anns[ids[0]]["category_id"] == cats["Platelets"]
    assert anns[ids[1]]["bbox"] == pytest.approx([160, 240, 80, 120])
    assert ids[2] not in anns
    new = [a for i, a in anns.items() if i > 4888]
    assert sorted((a["category_id"], a["bbox"][0]) for a in new) == [
        (cats["WBC"], 320), (cats["Neutrophil"], 64)]
    assert len(coco["annotations"]) == 4888 - 1 + 2
    original = annokit.read(shared_dataset("bccd", "BCCD"))
    kept = original.annotations.set_index("id").loc[ids[0]]
    assert anns[ids[0]]["truncated"] == kept["truncated"]  # attributes kept

    # any format, through annokit's writers
    for fmt in ("voc", "yolo"):
        code, _, err = run_cli("fiftyone-export", "edit", tmp_path / fmt, "--format", fmt,
                               "--images", "none")
        assert code == 0, err
        again = annokit.read(tmp_path / fmt, fmt) if fmt == "voc" else None
        if again is not None:
            assert len(again.annotations) == 4889
    # never over or into the input
    code, _, err = run_cli("fiftyone-export", "edit", shared_dataset("bccd", "BCCD") / "out",
                           "--format", "coco")
    assert code == 2 and "refusing to write over or into the input" in err


def test_cli_errors_are_one_line(fo, bccd):
    code, _, err = run_cli("fiftyone-export", "no-such-dataset", "out", "--format", "coco")
    assert code == 2
    assert err.startswith("annokit: error: no FiftyOne dataset named 'no-such-dataset' "
                          "(datasets: ")
    args = ["browse", shared_dataset("yolo_mark_darknet_sample", "x64", "Release", "data"),
            "--no-launch", "--no-images", "--name", "again"]
    assert run_cli(*args)[0] == 0
    code, _, err = run_cli(*args)
    assert code == 2 and err == (
        "annokit: error: FiftyOne dataset 'again' exists (use --overwrite to rebuild it)\n")
    assert run_cli(*args, "--overwrite")[0] == 0


# -- the App ------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("signame, code, word, address", [
    ("SIGINT", 130, "interrupted", "localhost"),
    ("SIGTERM", 143, "terminated", "0.0.0.0")])
def test_browse_serves_the_app_until_interrupted(fo, tmp_path, signame, code, word, address):
    """`annokit browse` in its own process: builds, serves, stops on Ctrl-C (exit 130) or
    SIGTERM (exit 143) with the App server gone; an address beyond loopback is warned of."""
    import signal

    port = _free_port()
    name = f"served-{word}"
    data = shared_dataset("yolo_mark_darknet_sample", "x64", "Release", "data")
    cli = Path(sys.executable).parent / "annokit"  # the console script beside this Python
    ready = f"FiftyOne App: http://{address}:{port}/datasets/{name} (Ctrl-C to stop)"
    proc = subprocess.Popen(
        [str(cli), "browse", str(data), "--no-images", "--name", name, "--port", str(port),
         "--address", address],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},  # the ready line as soon as it is said
        # Ctrl-C reaches it even when this test runs in a background job (SIGINT ignored)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 180
        # wait for the CLI to say the App is up, not only for the server to answer: a
        # signal while the session still connects would stop it before it says so
        while not any(ready in line for line in lines) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(1)
        assert _get(f"http://localhost:{port}/datasets/{name}") == 200
    finally:
        proc.send_signal(getattr(signal, signame))
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the CLI and the App server it started
            raise
        reader.join(timeout=10)
        err = proc.stderr.read()
    assert proc.returncode == code, err[-2000:]
    assert ready in "".join(lines)
    warned = [line for line in err.splitlines() if "/media endpoint" in line]
    if address == "localhost":
        assert not warned, err
    else:
        assert warned == [f"annokit: warning: the App listens on {address}, beyond this "
                          "machine: FiftyOne's /media endpoint serves any file this user can "
                          "read to whoever reaches the port (see docs/fiftyone.md); use the "
                          "default localhost and an SSH tunnel instead"]
    assert err.rstrip().splitlines()[-1] == (f"annokit: {word}; App stopped, FiftyOne dataset "
                                             f"{name!r} kept")
    deadline = time.monotonic() + 30
    while _get(f"http://localhost:{port}/") is not None and time.monotonic() < deadline:
        time.sleep(1)
    assert _get(f"http://localhost:{port}/") is None
    assert fo.dataset_exists(name)


def _screenshot(tmp_path: Path, shot: Path, url: str, budget: int) -> None:
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,900",
             f"--virtual-time-budget={budget}", url, timeout=240)


def _colours(shot: Path) -> tuple[list, list]:
    """Colours of the whole page and of the sample grid (right of the sidebar)."""
    from PIL import Image

    with Image.open(shot) as im:
        rgb = im.convert("RGB")
        return (rgb.getcolors(maxcolors=1 << 22),
                rgb.crop((400, 200, 1300, 850)).getcolors(maxcolors=1 << 22))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except OSError:
        return None


@pytest.mark.slow
def test_app_serves_bccd_worst_first_in_chromium(fo, bccd, tmp_path):
    from annokit.integrations.fiftyone import WORST_VIEW, close_app, launch

    ds, _ = _planted(bccd)
    worst = int(ds.images["id"].iloc[40])
    fo_ds = annokit.to_fiftyone(ds, "app-bccd", findings=annokit.check(ds, images=False),
                                scores=_scores(ds, worst))
    port = _free_port()
    launch(fo_ds, port=port)
    try:
        url = f"http://localhost:{port}/"
        deadline = time.monotonic() + 180
        while _get(url) != 200 and time.monotonic() < deadline:
            time.sleep(1)
        assert _get(url) == 200
        if not CHROMIUM.exists():  # skip before the work, not in the middle of it
            pytest.skip("/usr/bin/chromium is absent (apt-get install chromium); CI installs it")
        from fiftyone.core.utils import to_slug

        slug = to_slug(WORST_VIEW)
        shot = tmp_path / "fiftyone-bccd-worst-first.png"
        page = f"http://localhost:{port}/datasets/app-bccd?view={slug}"
        for budget in (20000, 40000, 60000):  # a loaded machine serves the first load slowly
            _screenshot(tmp_path, shot, page, budget)
            colours, grid = _colours(shot)
            if len(grid) > 3000:
                break
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, ARTEFACTS / shot.name)
        assert len(colours) > 5000   # photos of blood cells, not a blank or error page
        assert len(grid) > 3000      # the sample grid holds images
    finally:
        close_app()
    assert _get(f"http://localhost:{port}/") is None  # stopped


@pytest.mark.slow
def test_the_real_scorers_result_reaches_fiftyone(fo, bccd):
    """annokit.score on BCCD with planted swaps -> to_fiftyone: the worst-first view opens
    on the image the scorer judged worst, and the planted swaps carry issue 'swap'."""
    from annokit.score.inject import inject_detection_errors

    keep = bccd.images["id"].iloc[:80]
    small = annokit.Dataset(bccd.categories, bccd.images[bccd.images["id"].isin(keep)],
                            bccd.annotations[bccd.annotations["image_id"].isin(keep)],
                            bccd.meta)
    noisy, truth, _ = inject_detection_errors(small, 0, swap=0.05, badloc=0, delete=0,
                                              spurious=0)
    result = annokit.score(noisy, folds=3, seed=0)
    fo_ds = annokit.to_fiftyone(noisy, "real-scores", scores=result)

    worst = fo_ds.load_saved_view("annokit worst first").first()
    lowest = result.images.sort_values("quality", kind="stable").iloc[0]
    assert worst["annokit_id"] == int(lowest["image_id"])
    assert worst["quality"] == pytest.approx(float(lowest["quality"]))
    planted = set(truth.loc[truth["error"] == "swap", "annotation_id"].astype(int))
    flagged = set(fo_ds.load_saved_view("issue swap").values(
        "ground_truth.detections.annokit_id", unwind=True))
    # the scorer flags most planted swaps (AUROC ~1 on bccd), and every box has a quality
    assert len(planted & flagged) >= len(planted) // 2
    qualities = fo_ds.values("ground_truth.detections.quality", unwind=True)
    assert len(qualities) == len(noisy.annotations) and all(0 <= q <= 1 for q in qualities)


# -- every task browses and comes back (issue 13, item 10) ---------------------------------

def _labelme(*parts):
    return shared_dataset("labelme_examples", "examples", *parts)


def _task_input(task: str, tmp_path: Path) -> Path:
    """One task's real dataset."""
    if task == "boxes":
        return _labelme("bbox_detection", "data_dataset_voc")
    if task == "polygons":
        return _labelme("instance_segmentation", "data_dataset_coco", "annotations.json")
    if task == "points":  # centre points, made the way a user makes them
        code, out, err = run_cli("points", "to-points", _labelme("bbox_detection",
                                                                 "data_dataset_voc"),
                                 tmp_path / "points", "--to", "coco", "--images", "copy")
        assert code == 0, err
        return tmp_path / "points"
    return shared_dataset("sign_language_digits", "Dataset")


EXPORT = {"boxes": "coco", "polygons": "coco", "points": "coco", "labels": "csv"}
KINDS = {"boxes": "box", "polygons": "box", "points": "point", "labels": "label"}


@pytest.mark.parametrize("task", list(EXPORT))
def test_browse_every_task_and_export_gives_back_what_went_in(fo, task, tmp_path):
    """boxes, COCO polygons, centre points and image labels, through the CLI: browse builds
    the dataset (one summary line naming what it holds), fiftyone-export writes it back."""
    source = _task_input(task, tmp_path)
    name = f"task-{task}"
    code, out, err = run_cli("browse", source, "--no-launch", "--no-images", "--name", name)
    assert code == 0, err
    original = annokit.read(source)
    assert set(original.annotations["kind"]) == {KINDS[task]}
    words = {"boxes": "boxes", "polygons": "polygons", "points": "points",
             "labels": "image labels"}[task]
    n = len(original.annotations)
    assert out.startswith(f"FiftyOne dataset {name!r}: {len(original.images)} samples, ")
    assert f" {n} {words}" in out.splitlines()[0]

    target = tmp_path / ("out.json" if EXPORT[task] == "coco" else "out")
    code, out, err = run_cli("fiftyone-export", name, target, "--format", EXPORT[task],
                             "--images", "none")
    assert code == 0, err
    root = original.meta["image_root"]
    back = annokit.read(target, EXPORT[task], image_root=root)
    assert len(back.images) == len(original.images) and len(back.annotations) == n
    if task == "labels":  # CSV keeps file names and labels, not sizes or ids
        assert_same_content(original, back, image_columns=(), splits=False)
        return
    assert_same_content(original, back, keep_ids=task == "points")
    if task == "polygons":  # COCO never writes id 0, so pair objects by image and box
        a, b = (_by_place(d)["segmentation"].tolist() for d in (original, back))
        assert sum(map(len, a)) > 0
        for pa, pb in zip(a, b):
            assert len(pa) == len(pb)
            for ring_a, ring_b in zip(pa, pb):
                np.testing.assert_allclose(ring_a, ring_b, atol=1e-6)


def _by_place(ds: annokit.Dataset) -> pd.DataFrame:
    files = ds.images.set_index("id")["file_name"]
    return ds.annotations.assign(file=ds.annotations["image_id"].map(files)).sort_values(
        ["file", "x", "y", "w", "h"]).reset_index(drop=True)


def test_a_failed_build_leaves_nothing_and_keeps_the_old_dataset(fo, bccd):
    """A build that fails half-way (here a batch size FiftyOne's insert cannot use)
    leaves no dataset, neither under its name nor under the temporary one, and an
    existing dataset of that name survives --overwrite untouched."""
    from annokit.integrations.fiftyone import BUILDING

    small = annokit.Dataset(bccd.categories, bccd.images.iloc[:3],
                            bccd.annotations[bccd.annotations["image_id"].isin(
                                bccd.images["id"][:3])], bccd.meta)
    with pytest.raises(ValueError):
        annokit.to_fiftyone(small, "half", batch_size=0)
    assert not fo.dataset_exists("half")
    assert not [n for n in fo.list_datasets() if n.startswith(BUILDING)]

    kept = annokit.to_fiftyone(small, "kept")
    ids = sorted(kept.values("id"))
    with pytest.raises(ValueError):
        annokit.to_fiftyone(bccd, "kept", overwrite=True, batch_size=0)
    assert sorted(fo.load_dataset("kept").values("id")) == ids
    assert not [n for n in fo.list_datasets() if n.startswith(BUILDING)]
    rebuilt = annokit.to_fiftyone(bccd, "kept", overwrite=True)
    assert len(rebuilt) == 364 and rebuilt.persistent


def test_names_fiftyone_cannot_take_are_one_line(fo, bccd):
    small = annokit.Dataset(bccd.categories, bccd.images.iloc[:1], None, bccd.meta)
    annokit.to_fiftyone(small, "slug clash")
    with pytest.raises(AnnokitError, match=r"'slug-clash' clashes with the dataset "
                                           r"'slug clash' \(both have the URL name"):
        annokit.to_fiftyone(small, "slug-clash")


# -- export never writes over or into what built the dataset (item 2) ------------------------

def _tree(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_export_refuses_what_the_python_api_built_from(fo, victim, tmp_path):
    """The issue's case: to_fiftyone(read("victim")) then an export over victim/Annotations
    with --overwrite deleted the XML files; the COCO variant replaced the input JSON."""
    fo_ds = annokit.to_fiftyone(annokit.read(victim), "api-victim")
    record = fo_ds.info["annokit"]["provenance"]
    assert record["annotations"] == [os.path.realpath(victim)]
    assert record["image_roots"] == [os.path.realpath(victim / "JPEGImages")]
    coco = tmp_path / "victim.json"
    annokit.write(annokit.read(victim), coco, "coco")
    annokit.to_fiftyone(annokit.read(coco, image_root=victim / "JPEGImages"), "api-coco")
    before, before_json = _tree(victim), coco.read_bytes()
    for name, target, fmt in (("api-victim", victim / "Annotations", "voc"),
                              ("api-victim", victim, "voc"),
                              ("api-victim", victim / "JPEGImages" / "sub", "coco"),
                              ("api-victim", tmp_path, "coco"),
                              ("api-coco", coco, "coco"),
                              ("api-coco", tmp_path / "link.json", "coco")):
        if target.name == "link.json":
            target.symlink_to(coco)
        code, out, err = run_cli("fiftyone-export", name, target, "--format", fmt,
                                 "--overwrite", "--images", "none")
        assert code == 2, (target, out)
        assert err.count("\n") == 1 and "refusing to write over or into the input" in err, err
    assert _tree(victim) == before and coco.read_bytes() == before_json
    code, out, err = run_cli("fiftyone-export", "api-victim", tmp_path / "elsewhere",
                             "--format", "voc", "--images", "none")
    assert code == 0, err  # a folder beside it is fine


def test_export_of_a_dataset_fiftyone_made_protects_its_image_folders(fo, victim):
    """No provenance (FiftyOne built it): its samples' folders are protected."""
    plain = fo.Dataset("plain-victim")
    plain.add_samples([fo.Sample(filepath=str(p)) for p in
                       sorted((victim / "JPEGImages").glob("*.jpg"))])
    before = _tree(victim)
    code, out, err = run_cli("fiftyone-export", "plain-victim", victim / "JPEGImages",
                             "--format", "coco", "--overwrite")
    assert code == 2 and "refusing to write over or into the input" in err
    assert _tree(victim) == before


# -- FIFO images (item 4) ---------------------------------------------------------------------

def test_fifo_images_are_skipped_samples_both_ways(fo, tmp_path):
    """A FIFO among the images hangs whoever opens it: it becomes a skipped sample with a
    reason when building, and when exporting a dataset whose image became a FIFO."""
    from PIL import Image

    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (40, 30)).save(tmp_path / "imgs" / "a.jpg")
    os.mkfifo(tmp_path / "imgs" / "fifo.jpg")
    ds = annokit.Dataset(
        pd.DataFrame({"id": [1], "name": ["x"]}),
        pd.DataFrame({"id": [1, 2], "file_name": ["a.jpg", "fifo.jpg"],
                      "width": [None, None], "height": [None, None]}),
        pd.DataFrame({"image_id": [1, 2], "category_id": [1, 1], "x": [1.0] * 2,
                      "y": [1.0] * 2, "w": [5.0] * 2, "h": [5.0] * 2}),
        {"image_root": str(tmp_path / "imgs")})
    fo_ds = annokit.to_fiftyone(ds, "fifo")
    assert fo_ds.values("file_name") == ["a.jpg"]
    assert [n["text"] for n in fo_ds.info["annokit"]["notes"]] == [
        "fifo.jpg: a FIFO (named pipe), not a regular image file; image left out"]

    plain = fo.Dataset("fifo-made-in-fiftyone")  # no metadata: its size would be read
    plain.add_samples([fo.Sample(filepath=str(tmp_path / "imgs" / n), ground_truth=fo.Detections(
        detections=[fo.Detection(label="x", bounding_box=[0.1, 0.1, 0.2, 0.2])]))
        for n in ("a.jpg", "fifo.jpg")])
    back = annokit.from_fiftyone(plain)
    assert back.images["file_name"].tolist() == ["a.jpg"] and len(back.annotations) == 1
    assert back.notes.texts("skipped") == [
        "fifo.jpg: a FIFO (named pipe), not a regular image file; sample left out"]
    code, out, err = run_cli("fiftyone-export", "fifo-made-in-fiftyone", tmp_path / "out.json",
                             "--format", "coco")
    assert code == 0, err
    assert "skipped: fifo.jpg: a FIFO (named pipe)" in err
    assert len(json.loads((tmp_path / "out.json").read_text())["images"]) == 1


# -- scores made for another dataset (item 7) --------------------------------------------------

def _scores_json(ds: annokit.Dataset, path: Path, flag: bool = True) -> Path:
    """What `annokit score --out scores.json` writes for ``ds`` (quality on every
    annotation and image; ``issue`` only when something was flagged)."""
    annokit.write(ds, path, "coco")
    data = json.loads(path.read_text())
    for k, ann in enumerate(data["annotations"]):
        ann["quality"] = 0.9
        if flag and k == 0:
            ann["quality"], ann["issue"] = 0.1, "swap"
    for im in data["images"]:
        im["quality"] = 0.8
    path.write_text(json.dumps(data))
    return path


def test_browse_refuses_scores_of_another_dataset(fo, victim, tmp_path):
    ds = annokit.read(victim)
    calm = _scores_json(ds, tmp_path / "calm.json", flag=False)
    code, out, err = run_cli("browse", victim, "--scores", calm, "--no-launch", "--no-images",
                             "--name", "calm")
    assert code == 0, err  # nothing flagged is a fine scores file
    assert fo.load_dataset("calm").count_values("ground_truth.detections.quality") == {
        0.9: len(ds.annotations)}

    other = shared_dataset("labelme_examples", "examples", "bbox_detection",
                           "data_dataset_voc")
    foreign = _scores_json(annokit.read(other), tmp_path / "foreign.json")
    fewer = ds.copy()
    fewer.annotations = fewer.annotations.iloc[1:]
    stale = _scores_json(fewer, tmp_path / "stale.json")
    relabelled = ds.copy()
    relabelled.categories["name"] = relabelled.categories["name"].str.lower()
    renamed = _scores_json(relabelled, tmp_path / "renamed.json")
    table = tmp_path / "table.csv"
    pd.DataFrame({"annotation_id": [1, 2, 999], "image_id": [1, 1, 1],
                  "category_id": [1, 1, 1], "quality": [0.5] * 3, "issue": [None] * 3,
                  "image_quality": [0.5] * 3}).to_csv(table, index=False)
    cases = {foreign: ["file names are not in the dataset", "class names"],
             stale: ["1 annotation of the dataset has no score"],
             renamed: ["2 scored class names are not in the dataset ('rbc', 'wbc')"],
             table: ["scored annotation id", "(999)"]}
    for path, words in cases.items():
        code, out, err = run_cli("browse", victim, "--scores", path, "--no-launch",
                                 "--no-images", "--name", "scored-wrong")
        assert code == 2, (path, out, err)
        line = one_line(err)
        assert line.startswith(f"annokit: error: {path}: these scores were made for another "
                               "dataset: ") and line.endswith("(annokit score)"), line
        assert all(w in line for w in words), (words, line)
    assert not fo.dataset_exists("scored-wrong")


def one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("shape", ["points", "labels"])
def test_issue_views_find_points_and_image_labels(fo, bccd, shape):
    """The 'issue X' views look in the field that holds the flagged labels (they filtered
    ground_truth only: browse --scores was an internal error on points and image labels)."""
    from annokit.points import boxes_to_points

    small = annokit.Dataset(bccd.categories, bccd.images.iloc[:6],
                            bccd.annotations[bccd.annotations["image_id"].isin(
                                bccd.images["id"][:6])], bccd.meta)
    if shape == "points":
        ds = boxes_to_points(small)
    else:
        a = small.annotations.drop_duplicates("image_id")
        ds = annokit.Dataset(small.categories, small.images,
                             a.assign(kind="label", x=np.nan, y=np.nan, w=np.nan, h=np.nan),
                             small.meta)
    scores = _scores(ds, int(ds.images["id"].iloc[0]))
    fo_ds = annokit.to_fiftyone(ds, f"issues-{shape}", scores=scores)
    field = {"points": "points.keypoints", "labels": "labels.classifications"}[shape]
    view = fo_ds.load_saved_view("issue swap")
    assert view.count(field) == 1
    assert view.values(f"{field}.issue", unwind=True) == ["swap"]
