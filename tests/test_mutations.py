"""Property: a damaged input never crashes a command. Valid COCO, VOC and YOLO inputs are
mutated at random (bytes: truncate, insert, overwrite; structure: delete keys, swap
types, drop or add records and elements) and every ``annokit convert`` and ``check`` run
must end in exit 0, 1 or 2 with no traceback (exit 3 is an internal error)."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from annokit.cli import main
from conftest import FIXTURES

EXAMPLES = int(os.environ.get("ANNOKIT_MUTATIONS", "25"))  # per format; CI keeps it short
SOURCES = {"coco": FIXTURES / "coco" / "basic", "voc": FIXTURES / "voc" / "root",
           "yolo": FIXTURES / "yolo" / "ultralytics"}
GARBAGE = [None, True, False, -1, 0, 1, 2 ** 70, -1e308, 1e308, 0.5, "", "x", "../../x.jpg",
           "\u00e9\u0000", [], {}, [1, "a"], [[1, "a", 3]], [[1, 2, 3]], [1, 2, 3, 4, 5],
           {"counts": "x"}, {"size": [2, 2]}, {"counts": [1, 2], "size": [2, 2]},
           {"counts": [4], "size": ["a", 2]}, [[0, 0, 10, 0, 10, 10]], [0, 0, 5, 5]]
COCO_KEYS = {"images": ["id", "file_name", "width", "height"],
             "annotations": ["id", "image_id", "category_id", "bbox", "segmentation", "area",
                             "iscrowd", "keypoints", "score"],
             "categories": ["id", "name", "supercategory"]}
TOKENS = ["0", "1", "2", "-1", "0.5", "0.25", "1e9", "nan", "inf", "abc", "0x10", "1.5",
          "99", "0.000001", "-0.5", ""]

garbage = st.sampled_from(GARBAGE)


# -- mutations ----------------------------------------------------------------------------

@st.composite
def byte_edit(draw):
    kind = draw(st.sampled_from(["truncate", "insert", "overwrite"]))
    where = draw(st.floats(0, 1))
    junk = draw(st.binary(min_size=1, max_size=8))
    return kind, where, junk


def apply_bytes(file: Path, edit) -> None:
    kind, where, junk = edit
    data = file.read_bytes()
    at = int(where * len(data))
    if kind == "truncate":
        data = data[:at]
    elif kind == "insert":
        data = data[:at] + junk + data[at:]
    else:
        data = data[:at] + junk + data[at + len(junk):]
    file.write_bytes(data)


@st.composite
def coco_edit(draw):
    section = draw(st.sampled_from(["images", "annotations", "categories", "top"]))
    op = draw(st.sampled_from(["delete", "swap", "swap", "inner", "inner", "drop", "add",
                               "section"]))
    key = draw(st.sampled_from(COCO_KEYS.get(section, ["images"])))
    return section, op, key, draw(st.integers(0, 20)), draw(garbage)


def apply_coco(file: Path, edits) -> None:
    doc = json.loads(file.read_text())
    for section, op, key, index, value in edits:
        if section == "top" or op == "section":
            doc[section if section != "top" else key] = value
            continue
        records = doc.get(section)
        if not isinstance(records, list) or not records:
            continue
        i = index % len(records)
        if op == "drop":
            del records[i]
        elif op == "add":
            records.insert(i, value)
        elif isinstance(records[i], dict):
            if op == "delete":
                records[i].pop(key, None)
            elif op == "inner" and isinstance(records[i].get(key), list) and records[i][key]:
                inner = records[i][key]  # one number of a bbox, or a whole polygon
                inner[index % len(inner)] = value
            else:
                records[i][key] = value
    file.write_text(json.dumps(doc))


@st.composite
def voc_edit(draw):
    return (draw(st.sampled_from(["remove", "text", "add", "attribute"])),
            draw(st.integers(0, 200)), draw(st.sampled_from(TOKENS + ["-5", "1e400", "10"])))


def apply_voc(file: Path, edits) -> None:
    tree = etree.parse(str(file))
    for op, index, text in edits:
        elements = list(tree.getroot().iter())
        element = elements[index % len(elements)]
        if op == "remove" and element.getparent() is not None:
            element.getparent().remove(element)
        elif op == "text":
            element.text = text
        elif op == "add":
            etree.SubElement(element, draw_tag(index)).text = text
        else:
            element.set("x", text)
    tree.write(str(file))


def draw_tag(index: int) -> str:
    return ["object", "bndbox", "xmin", "size", "width", "name", "part", "attributes",
            "filename", "difficult"][index % 10]


@st.composite
def yolo_edit(draw):
    target = draw(st.sampled_from(["label", "yaml"]))
    if target == "yaml":
        return target, draw(st.sampled_from(["names", "train", "val", "path", "kpt_shape",
                                             "annokit_category_ids", "nc"])), \
            draw(st.booleans()), draw(garbage)
    line = " ".join(draw(st.lists(st.sampled_from(TOKENS), max_size=14)))
    return target, draw(st.integers(0, 10)), draw(st.booleans()), line


def apply_yolo(root: Path, edits) -> None:
    labels = sorted((root / "labels").rglob("*.txt"))
    for target, key, delete, value in edits:
        if target == "yaml":
            file = root / "data.yaml"
            doc = yaml.safe_load(file.read_text())
            if not isinstance(doc, dict):
                continue
            if delete:
                doc.pop(key, None)
            else:
                doc[key] = value
            file.write_text(yaml.safe_dump(doc))
        elif labels:
            file = labels[key % len(labels)]
            lines = file.read_text().splitlines()
            at = key % (len(lines) + 1)
            lines[at:at + (0 if delete else 1)] = [value]
            file.write_text("\n".join(lines) + "\n")


STRUCTURE = {"coco": coco_edit(), "voc": voc_edit(), "yolo": yolo_edit()}


def _files(fmt: str, root: Path) -> list[Path]:
    """The annotation files of a format (what the byte edits hit)."""
    if fmt == "coco":
        return [root / "annotations.json"]
    if fmt == "voc":
        return sorted((root / "Annotations").glob("*.xml")) + \
            sorted((root / "ImageSets" / "Main").glob("*.txt")) + [root / "labels.txt"]
    return [root / "data.yaml"] + sorted((root / "labels").rglob("*.txt"))


def mutate(fmt: str, root: Path, structure: list, byte_edits: list, pick: int) -> None:
    try:
        if fmt == "coco":
            apply_coco(root / "annotations.json", structure)
        elif fmt == "voc":
            files = sorted((root / "Annotations").glob("*.xml"))
            apply_voc(files[pick % len(files)], structure)
        else:
            apply_yolo(root, structure)
    except (ValueError, etree.XMLSyntaxError, yaml.YAMLError):
        pass  # an earlier edit broke the file for our own parser: the bytes edits still run
    files = _files(fmt, root)
    for edit in byte_edits:
        apply_bytes(files[(pick + len(edit[2])) % len(files)], edit)


# -- the property -------------------------------------------------------------------------

def run(*args) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    crash = result.exception is not None and not isinstance(result.exception, SystemExit)
    return (3 if crash else result.exit_code), result.output + (result.stderr or "")


def assert_clean_exit(args, code: int, output: str) -> None:
    assert code in (0, 1, 2), f"{' '.join(map(str, args))} exited {code}:\n{output}"
    assert "Traceback" not in output and "internal error" not in output, output


@pytest.mark.slow
@pytest.mark.parametrize("fmt", sorted(SOURCES))
def test_damaged_inputs_never_crash(fmt):
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(structure=st.lists(STRUCTURE[fmt], max_size=3),
           byte_edits=st.one_of(st.just([]), st.just([]),  # most runs: structure only
                                st.lists(byte_edit(), min_size=1, max_size=2)),
           pick=st.integers(0, 50),
           target=st.sampled_from(["coco", "voc", "yolo", "csv"]),
           strict=st.sampled_from([False, False, False, True]))
    def prop(structure, byte_edits, pick, target, strict):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "in"
            shutil.copytree(SOURCES[fmt], root)
            mutate(fmt, root, structure, byte_edits, pick)
            extra = ["--strict"] if strict else []
            source = fmt if pick % 2 else "auto"  # the reader itself, or detection first
            args = ["convert", source, target, root, Path(tmp) / "out", *extra]
            assert_clean_exit(args, *run(*args))
            args = ["check", root, "--format", source, *extra]
            assert_clean_exit(args, *run(*args))

    prop()
