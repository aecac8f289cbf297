"""The HTML report's templates: shipped as package files, autoescaped everywhere, the page
one file with the package's own CSS and JavaScript inlined, and a built wheel that carries
them (what a fresh `pip install` gets)."""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import zipfile
from importlib import resources
from pathlib import Path

import jinja2
import lxml.html
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from annokit.checks import findings as make_findings
from annokit.model import Dataset
from annokit.report import PALETTE, report
from annokit.report.plots import scatter
from annokit.report.render import environment, package_text
from annokit.notes import Note, Notes
from conftest import ROOT

SHIPPED = resources.files("annokit.report")
EVIL = '"><script>document.title="pwned"</script><img src=x onerror=alert(1)>'


def _templates() -> list[str]:
    return sorted(p.name for p in SHIPPED.joinpath("templates").iterdir()
                  if p.name.endswith(".html"))


def test_every_template_and_static_file_is_a_package_resource():
    names = _templates()
    assert {"page.html", "dataset.html", "charts.html", "svg.html", "findings.html",
            "worst.html", "scores.html", "macros.html"} <= set(names)
    for name in names:  # each one compiles from the package's own files
        assert environment().get_template(name).name == name
    css, js = package_text("static", "report.css"), package_text("static", "report.js")
    assert "body{" in css and "getElementById" in js


def test_environment_escapes_and_refuses_unknown_names():
    env = environment()
    assert env.autoescape is True
    assert env.from_string("<td>{{ v }}</td>").render(v='<b a="1">&') == \
        "<td>&lt;b a=&#34;1&#34;&gt;&amp;</td>"
    with pytest.raises(jinja2.UndefinedError):  # a typo in a template fails, never blank
        env.get_template("page.html").render()


def test_the_one_unescaped_block_takes_palette_colours_only():
    """templates/svg.html draws the scatter's dots unescaped (numbers and our colours): a
    colour from anywhere else is refused before it could reach the page."""
    xs = np.array([1.0, 2.0])
    with pytest.raises(ValueError, match="palette"):
        scatter(xs, xs, np.array(['"/><script>x</script>', PALETTE[0]], dtype=object), "s")
    page = environment().get_template("svg.html").module.scatter(
        scatter(xs, xs, np.array(PALETTE[:2], dtype=object), "a <b>"))
    assert page.count("<circle ") == 2 and 'aria-label="a &lt;b&gt;"' in page


def _hostile_dataset(root: Path) -> tuple[Dataset, pd.DataFrame]:
    """Every text the page shows carries markup: class, file, split, format, skipped record,
    check name and message."""
    root.mkdir(parents=True, exist_ok=True)
    name = f"a{EVIL}.jpg".replace("/", "_")
    Image.new("RGB", (64, 48), (200, 200, 200)).save(root / name, "JPEG")
    ds = Dataset(pd.DataFrame({"id": [1, 2], "name": [f"cat{EVIL}", "dog"],
                               "supercategory": [EVIL, None]}),
                 pd.DataFrame({"id": [1, 2], "file_name": [name, f"b{EVIL}.jpg"],
                               "width": [64, 64], "height": [48, 48],
                               "split": [f"train{EVIL}", "val"]}),
                 pd.DataFrame({"id": [1, 2, 3], "image_id": [1, 1, 2],
                               "category_id": [1, 2, 1], "x": [2.0, 10, 3], "y": [2.0, 10, 3],
                               "w": [20.0, 8, 0], "h": [10.0, 8, 0]}),
                 meta={"image_root": str(root), "source_format": f"coco{EVIL}",
                       "notes": Notes([Note("read", f"ann.json: record {EVIL}", "skipped")])})
    found = pd.concat([
        make_findings(f"geometry.zero{EVIL}", [f"w=0 {EVIL}"], image_id=[2], annotation_id=[3],
                      severity="error"),
        make_findings("geometry.odd", [EVIL], image_id=[1], annotation_id=[1],
                      value=[np.nan], severity="warning")], ignore_index=True)
    return ds, found


def _scores(ds: Dataset):
    from annokit.score.contract import Scores

    anns = pd.DataFrame({"annotation_id": pd.array([1, 2, 3], dtype="Int64"),
                         "image_id": [1, 1, 2], "category_id": pd.array([1, 2, 1], dtype="Int64"),
                         "quality": [0.05, 0.9, 0.2], "issue": ["swap", None, "spurious"],
                         "suggested_category_id": pd.array([2, pd.NA, pd.NA], dtype="Int64"),
                         **{f"suggested_{k}": np.nan for k in "xywh"}})
    images = pd.DataFrame({"image_id": [1, 2], "quality": [0.05, 0.2], "n_issues": [1, 1]})
    return Scores(anns, images)


def test_markup_in_every_field_stays_text(tmp_path):
    ds, found = _hostile_dataset(tmp_path / "images")
    page = report(ds, found, tmp_path / "qc.html", title=f"QC {EVIL}",
                  scores=_scores(ds)).read_text(encoding="utf-8")
    tree = lxml.html.document_fromstring(page)
    scripts = tree.xpath("//script")
    assert len(scripts) == 1 and scripts[0].text == package_text("static", "report.js")
    assert tree.xpath("//style")[0].text == package_text("static", "report.css")
    handlers = [(e.tag, a) for e in tree.iter() if isinstance(e.tag, str)
                for a in e.attrib if a.startswith("on")]
    assert handlers == []  # no onerror=... broke out of an attribute
    assert all(i.get("src", "").startswith("data:image/jpeg;base64,") for i in tree.iter("img"))
    # the text arrives whole, as text, wherever it is shown
    assert tree.findtext(".//title") == f"QC {EVIL}"
    assert f"cat{EVIL}" in {r.get("data-cls") for r in tree.xpath('//tr[@data-cls]')}
    assert {o.text for o in tree.xpath('//select[@id="f-check"]/option')} >= {
        f"geometry.zero{EVIL}"}
    assert tree.xpath('//dd[@id="n-format"]')[0].text == f"coco{EVIL}"
    assert f"train{EVIL} 1" in tree.xpath('//dd[@id="n-splits"]')[0].text
    assert f"ann.json: record {EVIL}" in [li.text for li in tree.xpath("//details//li")]
    thumbs = tree.xpath('//figure[@class="thumb"]/img')
    assert [i.get("alt") for i in thumbs] == [ds.images["file_name"][0]]  # b...jpg is missing
    scored = tree.xpath('//figure[@class="thumb score"]//li')
    assert any(f"cat{EVIL} → dog" in li.text_content() for li in scored)
    svg_text = " ".join(t.text_content() for t in tree.xpath("//svg//text"))
    assert f"cat{EVIL}"[:27] in svg_text  # chart labels too (cut to 28 characters)


def _source_tree(dest: Path) -> Path:
    """What a source distribution holds: pyproject, README and the package."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, dest / name)
    shutil.copytree(ROOT / "annokit", dest / "annokit",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


@pytest.mark.slow
def test_a_built_wheel_ships_the_templates_and_renders(tmp_path):
    """pyproject.toml's package-data: the wheel pip builds carries every template and
    static file, and the package installed from it (not this checkout) writes a page."""
    source = _source_tree(tmp_path / "src")
    # the build backend of this environment when it has one (offline, fast); else pip
    # fetches pyproject's build requirements as it would for a user
    isolation = [] if importlib.util.find_spec("setuptools") is None else \
        ["--no-build-isolation"]
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *isolation,
                            "-w", str(tmp_path / "dist"), str(source)],
                           capture_output=True, text=True, timeout=300)
    if built.returncode and "No module named pip" in built.stderr:
        pytest.skip("pip is not installed in this environment")
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("annokit-*.whl"))
    listed = set(zipfile.ZipFile(wheel).namelist())
    wanted = {f"annokit/report/{kind}/{p.name}" for kind in ("templates", "static")
              for p in (ROOT / "annokit" / "report" / kind).iterdir()}
    assert wanted <= listed, wanted - listed
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)  # a wheel is installed by unpacking it
    script = ("import annokit, pandas as pd; from annokit.checks import findings as f\n"
              "ds = annokit.Dataset(pd.DataFrame({'id': [1], 'name': ['cat']}),"
              " pd.DataFrame({'id': [1], 'file_name': ['a.jpg']}),"
              " pd.DataFrame({'image_id': [1], 'category_id': [1], 'x': [1.], 'y': [1.],"
              " 'w': [2.], 'h': [2.]}))\n"
              "annokit.report(ds, f('x.y', ['m'], image_id=[1]), 'qc.html')\n"
              "print(annokit.__file__)\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env={"PYTHONPATH": str(site),
                                                       "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str(site / "annokit" / "__init__.py")
    page = (tmp_path / "qc.html").read_text(encoding="utf-8")
    assert package_text("static", "report.css") in page and '<tr data-check="x.y">' in page
