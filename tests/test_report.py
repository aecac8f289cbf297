"""The QC report: JSON summary and schema, the self-contained HTML, and a real browser."""
from __future__ import annotations

import base64
import io
import json
import re
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from annokit.checks import findings as make_findings
from annokit.errors import AnnokitError
from annokit.model import Dataset
from annokit.report import (MAX_SCATTER_POINTS, MAX_TABLE_ROWS, PALETTE, json_schema, report,
                            summary_table, to_json_dict)
from annokit.report.sections import quota_per_group
from annokit.report.thumbnails import thumbnail
from annokit.notes import Note, Notes
from browser import chromium, page_text
from conftest import shared_dataset



def _images(root: Path, count: int = 5) -> None:
    """Small noisy JPEGs img1..img<count> (img6 and img7 are left missing on purpose)."""
    rng = np.random.default_rng(1)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(1, count + 1):
        pixels = rng.integers(60, 200, (240, 320, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / f"img{i}.jpg", quality=70)


def _dataset(root: Path | None) -> Dataset:
    """7 images (train 4, val 3), 10 boxes, 3 categories and one undefined category id 9."""
    cats = pd.DataFrame({"id": [1, 2, 5], "name": ["cat", "dog <b>&", "car"]})
    imgs = pd.DataFrame({"id": [1, 2, 3, 4, 5, 6, 7],
                         "file_name": [f"img{i}.jpg" for i in range(1, 8)],
                         "width": [320] * 7, "height": [240] * 7,
                         "split": ["train"] * 4 + ["val"] * 3})
    anns = pd.DataFrame({"id": range(1, 11), "image_id": [1, 1, 1, 2, 2, 3, 4, 5, 6, 6],
                         "category_id": [1, 2, 1, 1, 5, 2, 1, 1, 5, 9],
                         "x": [10, 50, 10, 100, 0, 30, 40, 200, 5, 20.],
                         "y": [10, 60, 10, 80, 0, 30, 40, 100, 5, 20.],
                         "w": [50, 80, 50, 0, 320, 60, 20, 300, 40, 40.],
                         "h": [40, 60, 40, 0, 240, 5, 20, 50, 40, 40.]})
    return Dataset(cats, imgs, anns, meta={
        "image_root": None if root is None else str(root), "source_format": "coco",
        "notes": Notes([Note("read", "a.json:annotation id 3: bbox has 3 numbers", "skipped")])})


def _findings() -> pd.DataFrame:
    """2 errors, 3 warnings, 1 info on images 1, 2, 5, 6, 7 (and one dataset-level finding)."""
    return pd.concat([
        make_findings("geometry.zero_size", ["w=0 h=0"], image_id=[2], annotation_id=[4],
                      value=[0.0], severity="error"),
        make_findings("geometry.duplicate", ["duplicate of annotation 1"], image_id=[1],
                      annotation_id=[3], category_id=[1], value=[1.0], severity="warning"),
        make_findings("geometry.outside", ["box leaves the image by 180 px"], image_id=[5],
                      annotation_id=[8], value=[np.inf], severity="warning"),
        make_findings("labels.unknown_category", ["category 9 is not defined"], image_id=[6],
                      annotation_id=[10], category_id=[9], severity="error"),
        make_findings("labels.no_annotations", ["image has no annotations"], image_id=[7],
                      severity="info"),
        make_findings("balance.rare_class", ["dog <b>& has 2 instances <script>x</script>"],
                      category_id=[2], value=[2.0], severity="warning"),
    ], ignore_index=True)


@pytest.fixture
def ds(tmp_path) -> Dataset:
    _images(tmp_path / "images")
    return _dataset(tmp_path / "images")


# -- JSON -------------------------------------------------------------------------

def test_json_dataset_summary(ds):
    d = to_json_dict(ds, _findings())
    assert d["schema_version"] == 1 and d["tool"]["name"] == "annokit"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", d["created"])
    summary = d["dataset"]
    assert (summary["images"], summary["annotations"], summary["categories"]) == (7, 10, 3)
    assert summary["splits"] == {"train": {"images": 4, "annotations": 7},
                                 "val": {"images": 3, "annotations": 3}}
    assert summary["images_without_annotations"] == 1  # img7
    assert summary["images_without_split"] == 0
    assert summary["annotations_by_kind"] == {"box": 10}
    assert summary["source_format"] == "coco"
    assert summary["skipped"] == {"count": 1,
                                  "records": ["a.json:annotation id 3: bbox has 3 numbers"]}


def test_json_class_counts_per_split(ds):
    classes = {c["id"]: c for c in to_json_dict(ds, _findings())["classes"]}
    assert classes[1] == {"id": 1, "name": "cat", "supercategory": None, "annotations": 5,
                          "images": 4, "splits": {"train": 4, "val": 1}}
    assert classes[2]["splits"] == {"train": 2, "val": 0}
    assert (classes[5]["annotations"], classes[5]["images"]) == (2, 2)
    # an id used by annotations but defined nowhere is still counted, with no name
    assert classes[9] == {"id": 9, "name": None, "supercategory": None, "annotations": 1,
                          "images": 1, "splits": {"train": 0, "val": 1}}


def test_json_finding_counts(ds):
    counts = to_json_dict(ds, _findings())["counts"]
    assert counts["findings"] == 6
    assert counts["images_flagged"] == 5
    assert counts["by_severity"] == {"error": 2, "warning": 3, "info": 1}
    assert [(c["check"], c["severity"], c["count"], c["images"]) for c in counts["by_check"]] == [
        ("geometry.zero_size", "error", 1, 1), ("labels.unknown_category", "error", 1, 1),
        ("balance.rare_class", "warning", 1, 0), ("geometry.duplicate", "warning", 1, 1),
        ("geometry.outside", "warning", 1, 1), ("labels.no_annotations", "info", 1, 1)]


def test_json_has_every_finding_with_nulls(ds):
    records = to_json_dict(ds, _findings())["findings"]
    assert len(records) == 6
    assert [r["severity"] for r in records] == ["error"] * 2 + ["warning"] * 3 + ["info"]
    first = records[0]
    assert first == {"check": "geometry.zero_size", "severity": "error", "image_id": 2,
                     "annotation_id": 4, "category_id": None, "message": "w=0 h=0",
                     "value": 0.0, "file_name": "img2.jpg"}
    by_check = {r["check"]: r for r in records}
    assert by_check["geometry.outside"]["value"] is None  # inf is not JSON
    assert by_check["labels.unknown_category"]["value"] is None  # NaN
    rare = by_check["balance.rare_class"]
    assert (rare["image_id"], rare["annotation_id"], rare["file_name"]) == (None, None, None)
    assert type(first["image_id"]) is int


def test_json_file_validates_against_schema(ds, tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    out = report(ds, _findings(), tmp_path / "qc.json")
    data = json.loads(out.read_text())
    jsonschema.validate(data, json_schema())
    # the counts round-trip: recount from the records and from the DataFrame
    recount = pd.DataFrame(data["findings"]).groupby(["check", "severity"]).size()
    listed = {(c["check"], c["severity"]): c["count"] for c in data["counts"]["by_check"]}
    assert recount.to_dict() == listed
    assert _findings().groupby(["check", "severity"]).size().to_dict() == listed


def test_schema_is_not_vacuous(ds):
    jsonschema = pytest.importorskip("jsonschema")
    good = to_json_dict(ds, _findings())
    bad_severity = json.loads(json.dumps(good))
    bad_severity["findings"][0]["severity"] = "fatal"
    missing = {k: v for k, v in good.items() if k != "findings"}
    bad_id = json.loads(json.dumps(good))
    bad_id["findings"][0]["image_id"] = "2"
    for bad in (bad_severity, missing, bad_id):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, json_schema())


def test_schema_ships_inside_the_package():
    schema = json.loads((resources.files("annokit") / "report_schema.json").read_text())
    assert schema["properties"]["schema_version"] == {"const": 1}


def test_empty_dataset_and_no_findings(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    empty = Dataset()
    none = make_findings("none", []).iloc[:0]
    d = to_json_dict(empty, none)
    jsonschema.validate(d, json_schema())
    assert d["counts"] == {"findings": 0, "images_flagged": 0,
                           "by_severity": {"error": 0, "warning": 0, "info": 0}, "by_check": []}
    assert d["classes"] == [] and d["dataset"]["splits"] == {}
    page = report(empty, none, tmp_path / "qc.html").read_text()
    assert '<p id="no-findings">No findings.</p>' in page
    assert summary_table(empty, none).splitlines()[-1] == "no findings"


# -- writing ---------------------------------------------------------------------------

def test_report_paths_and_overwrite(ds, tmp_path):
    with pytest.raises(AnnokitError, match=r"must end in \.json or \.html"):
        report(ds, _findings(), tmp_path / "qc.txt")
    (tmp_path / "folder.json").mkdir()
    with pytest.raises(AnnokitError, match="is a folder"):
        report(ds, _findings(), tmp_path / "folder.json")
    out = tmp_path / "deep" / "qc.json"  # a missing parent folder is made
    report(ds, _findings(), out)
    with pytest.raises(AnnokitError, match="exists"):
        report(ds, _findings().iloc[:1], out, overwrite=False)
    assert json.loads(out.read_text())["counts"]["findings"] == 6  # untouched
    report(ds, _findings().iloc[:1], out)  # a re-run replaces the report
    assert json.loads(out.read_text())["counts"]["findings"] == 1
    with pytest.raises(AnnokitError, match="refusing to write over or into the input"):
        report(ds, _findings(), out, protect=(out.parent / "." / out.name,))
    assert sorted(p.name for p in out.parent.iterdir()) == ["qc.json"]  # no temp files left


def test_bad_findings_are_refused(ds):
    with pytest.raises(AnnokitError, match="lack columns"):
        to_json_dict(ds, _findings().drop(columns="value"))
    with pytest.raises(AnnokitError, match="unknown severities"):
        to_json_dict(ds, _findings().assign(severity="fatal"))


def test_summary_table_text(ds):
    text = summary_table(ds, _findings())
    lines = text.splitlines()
    assert lines[0] == "7 images, 10 annotations, 3 categories, 1 skipped"
    assert lines[1] == "findings: 2 errors, 3 warnings, 1 info; 5 images flagged"
    assert lines[2].split() == ["severity", "check", "count", "images", "example"]
    assert lines[3].split()[:4] == ["error", "geometry.zero_size", "1", "1"]
    assert lines[3].endswith("img2.jpg: w=0 h=0")
    assert "nan" not in text


# -- HTML ------------------------------------------------------------------------

def _html(ds, tmp_path, found=None, **options) -> str:
    found = _findings() if found is None else found
    return report(ds, found, tmp_path / "qc.html", **options).read_text(encoding="utf-8")


def test_html_is_self_contained(ds, tmp_path):
    page = _html(ds, tmp_path)
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"@import|url\(", page)
    sources = re.findall(r'\b(?:src|href)\s*=\s*"([^"]*)"', page)
    images = [s for s in sources if s.startswith("data:image/jpeg;base64,")]
    anchors = [s for s in sources if s.startswith("#")]
    assert len(images) == 3 and len(images) + len(anchors) == len(sources)
    assert all(f'id="{a[1:]}"' in page for a in anchors)  # in-page links only, all resolve
    assert "<script src" not in page and "<link" not in page


def test_html_escapes_text(ds, tmp_path):
    page = _html(ds, tmp_path)
    assert "dog &lt;b&gt;&amp; has 2 instances &lt;script&gt;x&lt;/script&gt;" in page
    assert "<script>x</script>" not in page and "<b>&" not in page
    assert page.count("<script>") == 1  # ours only


def test_html_summary_charts_and_table(ds, tmp_path):
    page = _html(ds, tmp_path)
    for key, value in [("images", "7"), ("annotations", "10"), ("categories", "3"),
                       ("error", "2"), ("warning", "3"), ("info", "1"), ("flagged", "5"),
                       ("skipped", "1"), ("empty", "1")]:
        assert f'<dd id="n-{key}">{value}</dd>' in page, key
    assert "train 4 · val 3" in page
    for chart in ("chart-classes", "chart-splits", "chart-scatter", "chart-per-image"):
        assert re.search(f'<figure id="{chart}">.*?<svg ', page, re.S), chart
    assert page.count("<circle ") == 9  # every box but the zero-size one (log scales)
    # boxes per image: 0 boxes on one image (img7), 1 on three, 2 on two, 3 on one
    per_image = re.search(r'id="chart-per-image">.*?</svg>', page, re.S).group(0)
    assert re.findall(r"<title>(\d+): (\d+) images</title>", per_image) == [
        ("0", "1"), ("1", "3"), ("2", "2"), ("3", "1")]
    rows = re.search(r'<table id="findings">.*?</table>', page, re.S).group(0)
    assert rows.count('<tr data-sev="') == 6
    assert 'data-cls="cat"' in rows  # class taken from the finding's annotation
    assert 'data-cls="id 9"' in rows


def test_html_thumbnails_of_worst_images(ds, tmp_path):
    page = _html(ds, tmp_path)
    names = re.findall(r'<figure class="thumb"><img alt="([^"]+)"', page)
    # worst first: the error image, then warnings; img6 (error) and img7 are missing on disk
    assert names == ["img2.jpg", "img1.jpg", "img5.jpg"]
    assert "img6.jpg: image file not found" in page and "img7.jpg: image file not found" in page
    data = re.search(r'src="data:image/jpeg;base64,([^"]+)"', page).group(1)
    with Image.open(io.BytesIO(base64.b64decode(data))) as im:
        assert im.format == "JPEG" and im.size == (320, 240)
    page = _html(ds, tmp_path, thumbnails=1, overwrite=True)
    assert re.findall(r'<figure class="thumb">', page) == ['<figure class="thumb">']


def test_thumbnail_colours_flagged_boxes(tmp_path):
    Image.new("RGB", (640, 480), (255, 255, 255)).save(tmp_path / "white.png")
    anns = pd.DataFrame({"id": [1, 2, 3], "image_id": [1, 1, 1],
                         "x": [20., 300., 100.], "y": [20., 300., 200.],
                         "w": [200., 200., 100.], "h": [200., 100., 100.]})
    flags = make_findings("x", ["bad", "odd"], image_id=[1, 1], annotation_id=[1, 2])
    flags["severity"] = ["error", "warning"]
    jpeg = thumbnail(str(tmp_path / "white.png"), anns, flags)
    with Image.open(io.BytesIO(jpeg)) as im:
        assert im.size == (320, 240)  # scale 0.5
        px = np.asarray(im.convert("RGB"), dtype=int)
    def near(y, x, rgb):
        return np.abs(px[y - 1:y + 2, x - 1:x + 2] - rgb).sum(axis=2).min() < 90
    assert near(60, 10, (230, 20, 20))      # left edge of box 1 (x=20*0.5): red
    assert near(200, 150, (255, 140, 0))    # left edge of box 2 (x=300*0.5): orange
    assert near(120, 50, (150, 150, 150))   # left edge of box 3 (x=100*0.5): grey
    assert near(160, 160, (255, 255, 255))  # inside nothing: still white
    assert thumbnail(str(tmp_path / "nope.jpg"), anns, flags) == "image file not found"
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    assert thumbnail(str(tmp_path / "broken.jpg"), anns, flags).startswith("cannot be read")


def test_quota_water_filling():
    # 10 + 100 + q <= 500  ->  q = 390
    assert quota_per_group(np.array([1000, 10, 100]), 500) == 390
    assert quota_per_group(np.array([3, 4]), 500) == 4  # everything fits
    assert quota_per_group(np.array([100, 100, 100]), 30) == 10


def test_large_dataset_is_sampled_and_capped(tmp_path):
    rng = np.random.default_rng(0)
    n_images, n_boxes = 2000, 20000
    cats = pd.DataFrame({"id": [1, 2, 3], "name": ["big", "mid", "small"]})
    imgs = pd.DataFrame({"id": np.arange(1, n_images + 1),
                         "file_name": [f"{i}.jpg" for i in range(n_images)]})
    anns = pd.DataFrame({"image_id": rng.integers(1, n_images + 1, n_boxes),
                         "category_id": np.repeat([1, 2, 3], [18000, 1990, 10]),
                         "x": 1.0, "y": 1.0, "w": rng.uniform(2, 90, n_boxes),
                         "h": rng.uniform(2, 90, n_boxes)})
    big = Dataset(cats, imgs, anns)
    found = pd.concat([
        make_findings("geometry.tiny", "tiny", image_id=anns["image_id"][:9000],
                      annotation_id=np.arange(1, 9001), severity="warning"),
        make_findings("labels.x", "x", image_id=anns["image_id"][:2990], severity="info"),
        make_findings("geometry.rare", "rare", image_id=[1] * 10, severity="error")],
        ignore_index=True)
    page = _html(big, tmp_path, found, thumbnails=0)
    rows = re.findall(r'<tr data-sev="\w+" data-check="([^"]+)"', page)
    assert len(rows) == MAX_TABLE_ROWS
    assert {c: rows.count(c) for c in set(rows)} == {  # 10 + 2 * 2495 = 5000
        "geometry.rare": 10, "geometry.tiny": 2495, "labels.x": 2495}
    assert rows[0] == "geometry.rare"  # worst first
    assert "The table holds 5,000 of 12,000 findings" in page
    scatter = re.search(r'id="chart-scatter">.*?</figure>', page, re.S).group(0)
    assert scatter.count("<circle ") == MAX_SCATTER_POINTS
    assert "small (10)" in scatter and "A random 5,000 of 20,000 boxes" in scatter
    # all 10 boxes of the small class are kept; big (90%) and mid (10%) share the rest
    n_small, n_mid, n_big = (len(re.findall(f'<circle [^>]*fill="{PALETTE[i]}"', scatter))
                             for i in (2, 1, 0))
    assert n_small == 10 and 50 + 300 < n_mid < 50 + 700 and n_big > 4000
    assert json.loads(report(big, found, tmp_path / "qc.json").read_text())[
        "counts"]["findings"] == 12000  # the JSON has all


# -- a real browser --------------------------------------------------------------------

@pytest.mark.slow
def test_html_renders_inchromium(ds, tmp_path):
    page = report(ds, _findings(), tmp_path / "qc.html")
    dom = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert '<dd id="n-images">7</dd>' in dom and '<dd id="n-annotations">10</dd>' in dom
    text = page_text(dom)
    assert "Images 7 Annotations 10 Categories 3" in text
    assert "6 of 6 rows shown" in text  # written by the inline script: it ran
    assert dom.count("<svg ") >= 4 and dom.count("<img ") == 3
    # filters set from the URL hash hide the other rows
    dom = chromium(tmp_path, "--dump-dom", page.as_uri() + "#sev=warning&q=leaves")
    assert "1 of 6 rows shown" in page_text(dom)
    visible = re.findall(r'<tr data-sev="(\w+)"[^>]*?(hidden="")?>', dom)
    assert [s for s, hidden in visible if not hidden] == ["warning"]

    shot = tmp_path / "shot.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri())
    with Image.open(shot) as im:
        assert im.size == (1280, 2000)
        colours = im.convert("RGB").getcolors(maxcolors=1 << 20)
    assert len(colours) > 1000  # text, charts and photos, not a blank page


@pytest.mark.slow
def test_report_on_bccd(tmp_path):
    """The real BCCD set: its two known zero-size boxes, drawn on the real images."""
    root = shared_dataset("bccd", "BCCD")
    pytest.importorskip("annokit.formats.voc", reason="the VOC reader is not there yet")
    from annokit import read

    ds = read(root, "voc")
    anns = ds.annotations
    zero = anns[(anns["w"] <= 0) | (anns["h"] <= 0)]
    found = make_findings("geometry.zero_size", "zero-size box", image_id=zero["image_id"],
                          annotation_id=zero["id"], category_id=zero["category_id"],
                          severity="error")
    data = to_json_dict(ds, found)
    assert (data["dataset"]["images"], data["dataset"]["annotations"]) == (364, 4888)
    assert {c["name"]: c["annotations"] for c in data["classes"]}["RBC"] == 4155
    assert sorted(r["file_name"] for r in data["findings"]) == [
        "BloodImage_00338.jpg", "BloodImage_00343.jpg"]
    page = report(ds, found, tmp_path / "bccd.html").read_text()
    assert page.count('<figure class="thumb">') == 2 and "Not shown" not in page


def test_category_findings_name_their_images_in_the_json(tmp_path):
    """A rare class's finding lists the images that hold it (the report's ``images``)."""
    jsonschema = pytest.importorskip("jsonschema")
    from annokit.checks import check

    ds = Dataset(pd.DataFrame({"id": [1, 2], "name": ["cat", "dog"]}),
                 pd.DataFrame({"id": range(1, 31), "file_name": [f"{i}.jpg" for i in range(30)]}),
                 pd.DataFrame({"id": range(1, 31), "image_id": range(1, 31),
                               "category_id": [1] * 28 + [2] * 2,
                               "x": 1.0, "y": 1.0, "w": 2.0, "h": 2.0}))
    found = check(ds, checks=["balance.rare_class", "geometry"], images=False)
    data = to_json_dict(ds, found)
    jsonschema.validate(data, json_schema())
    rare = [f for f in data["findings"] if f["check"] == "balance.rare_class"]
    assert [f["images"] for f in rare] == [["28.jpg", "29.jpg"]]
    assert all("images" not in f for f in data["findings"] if f["check"] != "balance.rare_class")
