"""The HTML report from hostile data, through the real `annokit check --html`: markup,
attribute break-outs and template syntax in class names, file names and supercategories stay
text (Jinja2 autoescapes; values are never templates), and nothing runs in a real browser."""
from __future__ import annotations

import json
import re
from pathlib import Path

import lxml.html
import pytest

from corpus import Case, coco_doc, png, write
from browser import chromium
from harness import check_case, run_cases

# each payload, if it ever ran, would add <div id="pwned"> to the page
RUN = "document.body.appendChild(document.createElement('div')).id='pwned'"
CLASS = f'cat"><script>{RUN}</script>{{{{ 7*7 }}}}{{% raw %}}'
FILE = f"a'><img src=x onerror=\"{RUN}\">.png"
SUPER = "</title><svg onload=alert(1)>"


def hostile_coco(root: Path) -> None:
    images = [{"id": 1, "file_name": FILE, "width": 8, "height": 6},
              {"id": 2, "file_name": "b.png", "width": 8, "height": 6}]
    annotations = [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 0, 0],
                    "area": 0, "iscrowd": 0},  # zero size: an error finding on FILE
                   {"id": 2, "image_id": 2, "category_id": 2, "bbox": [1, 1, 4, 3],
                    "area": 12, "iscrowd": 0}]
    categories = [{"id": 1, "name": CLASS, "supercategory": SUPER},
                  {"id": 2, "name": "dog", "supercategory": SUPER}]
    write(root, {"c.json": coco_doc(images, annotations, categories), FILE: png(),
                 "b.png": png()})


def page_is_inert(root: Path, out: str, err: str) -> None:
    page = (root / "r.html").read_text(encoding="utf-8")
    tree = lxml.html.document_fromstring(page)
    assert len(tree.xpath("//script")) == 1, "a script element came from the data"
    handlers = [a for e in tree.iter() if isinstance(e.tag, str) for a in e.attrib
                if a.startswith("on")]
    assert handlers == [], handlers
    assert tree.xpath("//svg[@onload]") == [] and len(tree.xpath("/html/head/title")) == 1
    assert "49" not in " ".join(tree.xpath('//tr[@data-cls]/@data-cls'))  # never a template
    assert CLASS in tree.xpath('//tr[@data-cls]/@data-cls')
    thumbs = [i.get("alt") for i in tree.xpath('//figure[@class="thumb"]/img')]
    assert thumbs[0] == FILE  # the image with the error comes first, its name intact
    report = json.loads((root / "r.json").read_text(encoding="utf-8"))
    assert {c["name"] for c in report["classes"]} == {CLASS, "dog"}
    assert {f["file_name"] for f in report["findings"]} >= {FILE}


CASES = [Case("report-markup-in-names", "17.4", hostile_coco,
              ("check", "c.json", "--html", "r.html", "--json", "r.json", "--fail-on", "never"),
              code=0, outputs=("r.html", "r.json"), check=page_is_inert)]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return run_cases(CASES, tmp_path_factory.mktemp("report_templates"))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_case(case, results):
    check_case(case, results[case.name])


@pytest.mark.slow
def test_nothing_from_the_data_runs_in_chromium(results, tmp_path):
    page = results["report-markup-in-names"]["root"] / "r.html"
    dom = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert re.search(r"(\d+) of \1 rows shown", dom), "the page's own script did not run"
    assert 'id="pwned"' not in dom.replace("id='pwned'", "")  # the payload text, never run
    assert "<title>annokit QC report</title>" in dom
