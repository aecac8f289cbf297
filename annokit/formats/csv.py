"""CSV tables: image-level labels, centre points, and TensorFlow's box CSV.

One module for the CSV layouts people pass around, told apart by their header (names are
compared case-insensitively, with spaces and dashes read as ``_``):

================  ==========================================================  ===========
layout            header (first the file column)                              one row per
================  ==========================================================  ===========
``label``         ``file_name,label``                                         label
``multilabel``    ``file_name,labels`` with ``cat|dog`` (or ``;`` ``,`` space)  image
``label_columns`` ``file_name,label_1,label_2,...`` (empty cells for fewer)     image
``onehot``        ``file_name,cat,dog,bird`` holding 0/1                      image
``points``        ``file_name,x,y,label`` (centre points, absolute pixels)    point
``boxes``         ``filename,width,height,class,xmin,ymin,xmax,ymax`` (TF)    box
================  ==========================================================  ===========

The file column may be spelled ``file_name``, ``filename``, ``file``, ``image``,
``image_name``, ``image_path``, ``image_file``, ``img`` or ``path``; the label column
``label``, ``class``, ``category``, ``class_name`` or ``category_name`` (for points and
boxes, else the one remaining text column, e.g. BCCD's ``cell_type``). Optional columns
in any layout: ``width``/``height`` (the image's size), ``split``, ``score``
(``confidence``); ``iscrowd`` for boxes. Other columns pass through: per annotation for
``label``/``points``/``boxes``, per image for ``multilabel``/``label_columns``.

Boxes are plain corners in COCO's continuous space (``x = xmin``, ``w = xmax - xmin``).
A row with a file name and nothing else in the annotation columns is an image with no
objects. Categories are the labels sorted by name, ids 1..K.

Example:
    >>> import annokit
    >>> ds = annokit.read("raccoon/data/raccoon_labels.csv", "csv")    # doctest: +SKIP
    >>> annokit.write(ds, "out/labels.csv", "csv", csv_layout="boxes")  # doctest: +SKIP
"""
from __future__ import annotations

import csv
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import AnnokitError, FormatError, Problems
from ..fileio import place_images, safe_relative, shown_text
from ..labels import to_image_labels
from ..model import ANNOTATION_SCHEMA, IMAGE_SCHEMA, NONE, Dataset
from .layout import fill_unknown_sizes, image_dirs, pick_root, sibling_image_dirs
from .target import WriteNotes, coordinate_text

LAYOUTS = ("label", "multilabel", "label_columns", "onehot", "points", "boxes")
LABEL_LAYOUTS = LAYOUTS[:4]
TABLE_FILE = "annotations.csv"  # what a folder target gets
PEEK_ROWS = 50  # rows read to tell one-hot 0/1 columns and text columns apart
NO_LABEL = "object"  # the category of points and boxes in a CSV without a label column

# role -> header spellings that play it (lower case, spaces and dashes as "_")
SPELLINGS = {
    "file": ("file_name", "filename", "file", "image", "image_name", "image_path",
             "image_file", "img", "path"),
    "label": ("label", "class", "category", "class_name", "category_name"),
    "labels": ("labels", "tags", "classes", "categories"),
    "x": ("x",), "y": ("y",),
    "xmin": ("xmin", "x_min"), "ymin": ("ymin", "y_min"),
    "xmax": ("xmax", "x_max"), "ymax": ("ymax", "y_max"),
    "width": ("width", "image_width", "img_width"),
    "height": ("height", "image_height", "img_height"),
    "score": ("score", "confidence", "conf"),
    "split": ("split", "subset"),
    "iscrowd": ("iscrowd",),
}
LABEL_N = re.compile(r"(?:label|class|category|tag)_?(\d+)")
BOX_ROLES = ("xmin", "ymin", "xmax", "ymax")
NOT_POINTS = {"w", "h", "bbox_width", "bbox_height", "box_width", "box_height"}
DELIMITERS = ("|", ";", ",")  # a multilabel cell is split on the first found in the file
# written header per layout: role -> column name (the TF object-detection names for boxes)
OUT_NAMES = {"file": "file_name", "label": "label", "labels": "labels", "x": "x", "y": "y",
             "xmin": "xmin", "ymin": "ymin", "xmax": "xmax", "ymax": "ymax",
             "width": "width", "height": "height", "score": "score", "split": "split",
             "iscrowd": "iscrowd"}
TF_NAMES = {**OUT_NAMES, "file": "filename", "label": "class"}
LAYOUT_KIND = {"boxes": "box", "points": "point"}  # the others hold labels
PLURAL = {"box": "boxes", "point": "points", "label": "labels"}


# -- detect ------------------------------------------------------------------------------

def detect(path: Path) -> bool:
    """True for a ``.csv`` file (or a folder holding ``annotations.csv``) in a known layout.

    Only the header and the first rows are read.

    Example:
        >>> detect(Path("fixtures/csv/boxes.csv"))  # doctest: +SKIP
        True
    """
    file = _table_file(Path(path))
    if file is None:
        return False
    try:
        header, peek = _peek(file)
    except (FormatError, OSError):
        return False
    return _match(header, peek, None) is not None


def _table_file(path: Path) -> Path | None:
    if path.is_dir():
        path = path / TABLE_FILE
    return path if path.is_file() and path.suffix.lower() == ".csv" else None


def _key(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def _peek(file: Path) -> tuple[list[str], pd.DataFrame]:
    """The header and the first rows as text."""
    frame, _ = _read_table(file, dtype=str, nrows=PEEK_ROWS)
    return [str(c) for c in frame.columns], frame


def _match(header: list[str], peek: pd.DataFrame, layout: str | None) -> dict | None:
    """Which layout the header is and which column plays which role; None when none fits."""
    roles: dict[str, str] = {}
    for col in header:
        role = next((r for r, names in SPELLINGS.items() if _key(col) in names), None)
        if role and role not in roles:
            roles[role] = col
    if "file" not in roles:
        return None
    ordered = sorted((int(m.group(1)), col) for col in header if col not in roles.values()
                     and (m := LABEL_N.fullmatch(_key(col))))
    numbered = [col for _, col in ordered]
    rest = [c for c in header if c not in roles.values() and c not in numbered]
    text = [c for c in rest if not _all_numeric(peek[c])]
    layout = layout or _guess(roles, numbered, rest, text, peek)
    if layout is None:
        return None
    if layout not in LAYOUTS:
        raise AnnokitError(f"csv_layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    if layout != "label_columns":  # 'class_1' is then an ordinary column
        rest = [c for c in header if c not in roles.values()]
        text = [c for c in rest if not _all_numeric(peek[c])]
        numbered = []
    plan = {"layout": layout, "roles": roles, "numbered": numbered, "classes": [],
            "extras": rest, "header": header}
    if layout == "onehot":
        plan["classes"], plan["extras"] = rest, []
    elif "label" not in roles and layout in ("label", "points", "boxes") and len(text) == 1:
        roles["label"] = text[0]  # the one text column is the label (BCCD's cell_type)
        plan["extras"] = [c for c in rest if c != text[0]]
    elif "label" not in roles and layout in ("points", "boxes") and text:
        plan["unlabelled"] = text  # several candidates: read() asks which
    return plan


def _guess(roles: dict, numbered: list, rest: list, text: list, peek: pd.DataFrame
           ) -> str | None:
    if all(r in roles for r in BOX_ROLES):
        return "boxes"
    if "x" in roles and "y" in roles and not NOT_POINTS & {_key(c) for c in rest}:
        return "points"
    if "labels" in roles:
        return "multilabel"
    if numbered:
        return "label_columns"
    if "label" in roles:
        return "label"
    if rest and _mostly_binary(peek[rest]):
        return "onehot"
    if len(rest) == 1 and text:
        return "label"
    return None


def _all_numeric(values: pd.Series) -> bool:
    present = values.dropna()
    return bool(pd.to_numeric(present, errors="coerce").notna().all())


def _mostly_binary(frame: pd.DataFrame) -> bool:
    """Numbers only, most of them 0 or 1: one-hot columns (a stray 2 is a bad row)."""
    values = pd.to_numeric(frame.stack(), errors="coerce")
    return bool(values.notna().all() and values.isin([0, 1]).mean() >= 0.5) \
        if len(values) else True


# -- read --------------------------------------------------------------------------------

def read(path: Path, *, problems: Problems, image_root: Path | None = None,
         csv_layout: str | None = None, label_delimiter: str | None = None) -> Dataset:
    """Read a CSV table (or a folder's ``annotations.csv``) in any layout of this module.

    ``csv_layout`` forces a layout when the header is ambiguous; ``label_delimiter``
    forces the separator of a ``multilabel`` cell (default: the first of ``|``, ``;``,
    ``,`` found in the file, else whitespace). Images are looked for in ``image_root``,
    else ``images/`` beside the file, the file's folder, or ``images/`` beside that folder
    (TensorFlow's ``data/`` + ``images/``); sizes come from ``width``/``height`` columns,
    else from the image headers. A broken row is skipped with its line number.

    Example:
        >>> ds = read(Path("fixtures/csv/points.csv"), problems=Problems())  # doctest: +SKIP
        >>> ds.annotations[["kind", "x", "y"]].head(1).values.tolist()  # doctest: +SKIP
        [['point', 20.0, 15.0]]
    """
    file = _table_file(Path(path))
    if file is None:
        raise FormatError(path, "not a .csv file, nor a folder holding annotations.csv")
    header, peek = _peek(file)
    plan = _match(header, peek, csv_layout)
    if plan is None:
        # quoted only when the table is no link to a file elsewhere (/etc/passwd)
        # a table that is a link may point anywhere (/etc/passwd): its header is not shown
        shown = "(not shown: the table is a link to a file elsewhere)" if file.is_symlink() \
            else shown_text(",".join(header), file, file.parent)
        raise FormatError(file, f"header {shown} matches no CSV layout",
                          place="line 1", hint="name a file column 'file_name' and a label "
                          "column 'label' (see docs/formats/csv.md)")
    _check_plan(plan, file)
    plan["delimiter"] = label_delimiter
    table = _load(file, plan)
    frame, reasons = table.frame, table.reasons
    image_of_row, images, first_rows = _row_images(frame, plan, reasons)
    anns, names = _BUILDERS[plan["layout"]](frame, plan, reasons)
    for side in ("width", "height"):
        images[side] = _image_sizes(table, plan, side, image_of_row, len(images))
    _report(table, problems)
    if reasons:
        anns = anns[~anns["row"].isin(list(reasons))]
    anns["image_id"] = image_of_row[anns["row"].to_numpy()] + 1
    images = _with_image_extras(images, frame, plan, first_rows)
    categories, anns = _categories(anns, names, plan["layout"] == "onehot")
    roots, seen = _roots(file, image_root, images)
    ds = Dataset(categories, images, anns.drop(columns=["row"]),
                 {**roots, "csv": _meta(plan)})
    if seen:  # no image where we looked: 50,000 failed opens would tell us nothing more
        fill_unknown_sizes(ds)
    return ds


@dataclass
class _Table:
    """A loaded table and what is wrong with it so far.

    ``lines`` holds each row's line number in ``file``; ``found`` the lines pandas
    skipped or that disagree with another, as (line, FormatError); ``reasons`` the rows
    to leave out, with why.
    """

    file: Path
    frame: pd.DataFrame
    lines: np.ndarray
    found: list[tuple[int, FormatError]]
    reasons: dict[int, str] = field(default_factory=dict)

    def line_error(self, row: int, why: str, hint: str | None = None) -> None:
        """Name line ``row`` (a row of ``frame``) in ``found``."""
        line = int(self.lines[row])
        self.found.append((line, FormatError(self.file, why, place=f"line {line}", hint=hint)))


def _report(table: _Table, problems: Problems) -> None:
    """Every problem, in file order (so that strict stops at the first line)."""
    for row, why in table.reasons.items():
        table.line_error(row, why, hint="fix or remove the row")
    for _, error in sorted(table.found, key=lambda item: item[0]):
        problems.skip(error)


def _meta(plan: dict) -> dict:
    """What a write needs to give the table back its own header: layout, names, order."""
    roles = {**plan["roles"], **{f"label_{k + 1}": c for k, c in enumerate(plan["numbered"])}}
    meta = {"layout": plan["layout"], "header": plan["header"], "roles": roles}
    if plan["layout"] == "multilabel":
        meta["delimiter"] = plan["delimiter"]
    return meta


def _check_plan(plan: dict, file: Path) -> None:
    """Refuse a layout whose columns are missing, or a label column we cannot pick."""
    need = {"label": ["label"], "multilabel": ["labels"], "points": ["x", "y"],
            "boxes": list(BOX_ROLES)}.get(plan["layout"], [])
    missing = [r for r in need if r not in plan["roles"]]
    if plan["layout"] == "label_columns" and not plan["numbered"]:
        missing.append("label_1")
    if plan["layout"] == "onehot" and not plan["classes"]:
        missing.append("one 0/1 column per class")
    if missing:
        raise FormatError(file, f"layout {plan['layout']!r} needs column(s) "
                          f"{', '.join(missing)}", place="line 1")
    if plan.get("unlabelled"):
        raise FormatError(file, "cannot tell which column is the label: "
                          f"{', '.join(plan['unlabelled'])}", place="line 1",
                          hint="rename the label column to 'label'")


def _read_table(file: Path, **options) -> tuple[pd.DataFrame, list[str]]:
    """pandas.read_csv with our settings; whole-file failures become one FormatError.

    Only empty cells are missing (a class called 'NA' stays 'NA'); blank lines are kept
    as empty rows so that row numbers stay line numbers; rows with too many fields are
    skipped and returned as pandas' own warnings.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.ParserWarning)
        try:
            frame = pd.read_csv(file, keep_default_na=False, na_values=[""],
                                skip_blank_lines=False, on_bad_lines="warn",
                                encoding="utf-8-sig", **options)
        except pd.errors.EmptyDataError:
            raise FormatError(file, "empty file: no header", hint="the first line names "
                              "the columns, e.g. file_name,label") from None
        except UnicodeDecodeError as e:
            raise FormatError(file, f"not UTF-8 text (byte {e.start})",
                              hint="save it as UTF-8") from None
        except (pd.errors.ParserError, ValueError) as e:
            text = " ".join(str(e).split())
            line = re.search(r"line (\d+)", text)
            raise FormatError(file, f"unreadable CSV: {text}",
                              place=f"line {line.group(1)}" if line else None) from None
    skipped = [m for w in caught if issubclass(w.category, pd.errors.ParserWarning)
               for m in str(w.message).splitlines() if m.startswith("Skipping line")]
    return frame, skipped


def _load(file: Path, plan: dict) -> _Table:
    """The whole table (text roles as str), each row's line number in the file, and the
    lines pandas skipped as (line, FormatError)."""
    roles = plan["roles"]
    text = [roles[r] for r in ("file", "label", "labels", "split") if r in roles]
    frame, skipped = _read_table(file, dtype={c: str for c in text + plan["numbered"]})
    frame.columns = plan["header"]
    found: list[tuple[int, FormatError]] = []
    for message in skipped:  # 'Skipping line 7: expected 4 fields, saw 5'
        number, why = message[len("Skipping line "):].split(":", 1)
        found.append((int(number), FormatError(file, why.strip(), place=f"line {number}",
                                               hint="quote cells that hold a comma")))
    return _Table(file, frame, _line_numbers(len(frame), [line for line, _ in found]), found)


def _line_numbers(n: int, skipped: list[int]) -> np.ndarray:
    """Line of each row: row + 2 (1-based, after the header), moved past skipped lines."""
    lines = np.arange(n) + 2
    for line in sorted(skipped):
        lines[lines >= line] += 1
    return lines


_EDGE_SPACE = re.compile(r"(?:^|\x00)\s|\s(?:\x00|$)")


def _distinct(values: pd.Series, slashes: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Codes into the sorted distinct stripped texts of a column (-1 for an empty cell).

    Text is cleaned once per distinct value: 365,000 file names are 50,000 files.
    """
    codes, unique = _factorize(values)
    clean = [v if type(v) is str else str(v) for v in np.asarray(unique, dtype=object).tolist()]
    joined = "\x00".join(clean)  # one C-level look instead of a Python call per value
    if _EDGE_SPACE.search(joined):
        clean = [v.strip() for v in clean]
    if slashes and "\\" in joined:
        clean = [v.replace("\\", "/") for v in clean]
    texts, inverse = np.unique(np.array(clean + [""], dtype=object), return_inverse=True)
    inverse = inverse.reshape(-1)
    if len(texts) and texts[0] == "":  # the empty text is no value
        texts, inverse = texts[1:], inverse - 1
    return np.append(inverse[:-1], -1)[codes], texts


def _factorize(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """pandas.factorize, hashing each run of equal cells once: tables list an image's rows
    together, so 365,000 rows are often 50,000 runs."""
    cells = values.to_numpy(dtype=object)
    head = np.ones(len(cells), dtype=bool)
    head[1:] = cells[1:] != cells[:-1]
    if head.sum() * 2 > len(cells):
        return pd.factorize(cells)
    starts = np.flatnonzero(head)
    codes, unique = pd.factorize(cells[starts])
    return np.repeat(codes, np.diff(np.append(starts, len(cells)))), unique


def _text(values: pd.Series) -> pd.Series:
    """Stripped text as objects, empty cells None."""
    codes, texts = _distinct(values)
    return pd.Series(np.append(texts, NONE)[codes], index=values.index, dtype=object)


def _numbers(frame: pd.DataFrame, col: str, reasons: dict[int, str], name: str,
             required: np.ndarray | None = None, positive: bool = False
             ) -> tuple[np.ndarray, np.ndarray]:
    """A column as float64 and where it has a value; bad numbers flag the row, and so do
    empty cells where ``required``."""
    raw = frame[col]
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        values = raw.to_numpy(dtype=float, na_value=np.nan)
        present = ~np.isnan(values)
    else:
        values = pd.to_numeric(_text(raw), errors="coerce").to_numpy(dtype=float)
        present = raw.notna().to_numpy()
    bad = present & ~np.isfinite(values)
    if positive:
        bad |= present & (values < 0)
    if bad.any():
        _flag(reasons, bad, lambda r: f"{name} {_cell(raw, r)!r} is not "
              + ("a positive number" if positive else "a number"))
    if required is not None:
        _flag(reasons, required & ~present, lambda r: f"{name} is empty")
    return values, present & ~bad


def _cell(raw: pd.Series, row: int) -> str:
    value = raw.iloc[row]
    return f"{value:g}" if isinstance(value, (float, np.floating)) else str(value).strip()


def _flag(reasons: dict[int, str], mask: np.ndarray, why) -> None:
    """Give each flagged row its first reason (only bad rows are visited)."""
    for row in np.flatnonzero(mask).tolist():
        reasons.setdefault(row, why(row))


def _row_images(frame: pd.DataFrame, plan: dict, reasons: dict[int, str]):
    """Each row's image (0-based, -1 for none), the images 1..N in (file name, split)
    order, and each image's first row."""
    roles = plan["roles"]
    file_codes, files = _distinct(frame[roles["file"]], slashes=True)
    no_file = np.flatnonzero(file_codes < 0)
    blank = frame.iloc[no_file].isna().all(axis=1).to_numpy()  # blank lines: no record
    _flag(reasons, np.isin(np.arange(len(frame)), no_file[~blank]), lambda r: "no file name")
    image_of_row, split_of_image = file_codes, None
    if "split" in roles:
        split_codes, splits = _distinct(frame[roles["split"]])
        key = file_codes.astype(np.int64) * (len(splits) + 1) + split_codes + 1
        unique, inverse = np.unique(key[file_codes >= 0], return_inverse=True)
        image_of_row = np.full(len(frame), -1, dtype=np.int64)
        image_of_row[file_codes >= 0] = inverse.reshape(-1)
        files = files[unique // (len(splits) + 1)]
        split_of_image = np.append(splits, NONE)[unique % (len(splits) + 1) - 1]
    first_rows = np.full(len(files), -1, dtype=np.int64)
    rows = np.flatnonzero(image_of_row >= 0)
    first_rows[image_of_row[rows[::-1]]] = rows[::-1]  # reversed: the first row wins
    images = pd.DataFrame({"id": np.arange(1, len(files) + 1), "file_name": files,
                           "split": split_of_image})
    return image_of_row, images, first_rows


def _image_sizes(table: _Table, plan: dict, side: str, image_of_row: np.ndarray, n: int):
    """One image's width (or height) from its rows: the first given; 0 means unknown.

    A row that disagrees with the first is named in ``table.found`` (its box is kept)."""
    if side not in plan["roles"]:
        return pd.array([pd.NA] * n, dtype="Int64")
    values, present = _numbers(table.frame, plan["roles"][side], table.reasons, side,
                               positive=True)
    given = present & (values > 0) & (image_of_row >= 0)
    groups = pd.Series(values[given]).groupby(image_of_row[given])
    first, low, high = groups.first(), groups.min(), groups.max()
    for image in low.index[(low != high).to_numpy()].tolist():
        rows = np.flatnonzero(given & (image_of_row == image))
        for row in rows[values[rows] != values[rows[0]]].tolist():
            table.line_error(row, f"{side} {values[row]:g} differs from {values[rows[0]]:g} "
                             f"on line {table.lines[rows[0]]} for the same image; "
                             f"{values[rows[0]]:g} is kept")
    return pd.array(first.reindex(range(n)).round().to_numpy(), dtype="Int64")


def _with_image_extras(images, frame, plan, first_rows) -> pd.DataFrame:
    """Pass-through columns of the one-row-per-image layouts, from each image's first row."""
    if plan["layout"] not in ("multilabel", "label_columns") or not plan["extras"]:
        return images
    extras = frame[plan["extras"]].iloc[first_rows].reset_index(drop=True)
    extras = extras.rename(columns={c: f"csv_{c}" for c in extras if c in IMAGE_SCHEMA})
    return pd.concat([images, extras], axis=1)


# .. annotations, one builder per layout: (rows and columns, label names) ..............

def _score(frame, plan, reasons) -> np.ndarray:
    if "score" not in plan["roles"]:
        return np.full(len(frame), np.nan)
    return _numbers(frame, plan["roles"]["score"], reasons, "score")[0]


def _annotation_frame(rows: np.ndarray, codes: np.ndarray, kind: str, frame: pd.DataFrame,
                      plan: dict, columns: dict[str, np.ndarray] | None = None, *,
                      extras: bool = True) -> pd.DataFrame:
    """One annotation per entry of ``rows`` (source rows), label ``codes``, ``columns``
    (score, geometry) and the pass-throughs."""
    out = pd.DataFrame({"row": rows, "label": codes, "kind": kind, **(columns or {})})
    if extras:
        for col in plan["extras"]:  # a pass-through 'id' is not our id: csv_id
            clash = col in ANNOTATION_SCHEMA or col in ("row", "label")
            out[f"csv_{col}" if clash else col] = frame[col].to_numpy()[rows]
    return out


def _labels(frame: pd.DataFrame, plan: dict) -> tuple[np.ndarray, np.ndarray]:
    """Label codes and names; without a label column every row is an 'object'."""
    if "label" in plan["roles"]:
        return _distinct(frame[plan["roles"]["label"]])
    return np.zeros(len(frame), dtype=np.int64), np.array([NO_LABEL], dtype=object)


def _shapes(frame, plan, reasons, roles: tuple[str, ...], kind: str):
    """Points or boxes: coordinates and label required, unless the row names an image only."""
    codes, names = _labels(frame, plan)
    has_file = frame[plan["roles"]["file"]].notna().to_numpy()
    values = {r: _numbers(frame, plan["roles"][r], reasons, plan["roles"][r]) for r in roles}
    given = np.column_stack([values[r][1] for r in roles])
    if "label" in plan["roles"]:
        given = np.column_stack([given, codes >= 0])
    needed = has_file & given.any(axis=1)  # the others are images without objects
    for r in roles:
        _flag(reasons, needed & ~values[r][1], lambda row, r=r: f"{plan['roles'][r]} is empty")
    _flag(reasons, needed & (codes < 0), lambda r: "empty label")
    score = _score(frame, plan, reasons)
    rows = np.flatnonzero(needed)
    if kind == "point":
        geometry = {"x": values["x"][0][rows], "y": values["y"][0][rows]}
    else:
        x, y = values["xmin"][0][rows], values["ymin"][0][rows]
        geometry = {"x": x, "y": y, "w": values["xmax"][0][rows] - x,
                    "h": values["ymax"][0][rows] - y}
        if "iscrowd" in plan["roles"]:
            crowd = _numbers(frame, plan["roles"]["iscrowd"], reasons, "iscrowd")[0][rows]
            geometry["iscrowd"] = np.nan_to_num(crowd).astype(np.int64)
    return _annotation_frame(rows, codes[rows], kind, frame, plan,
                             {"score": score[rows], **geometry}), names


def _points(frame, plan, reasons):
    return _shapes(frame, plan, reasons, ("x", "y"), "point")


def _boxes(frame, plan, reasons):
    return _shapes(frame, plan, reasons, BOX_ROLES, "box")


def _single(frame, plan, reasons):
    """``file_name,label``: one label per row; an empty label is a broken row."""
    codes, names = _labels(frame, plan)
    has_file = frame[plan["roles"]["file"]].notna().to_numpy()
    blank = frame.isna().all(axis=1).to_numpy() if (codes < 0).any() else False
    _flag(reasons, has_file & (codes < 0) & ~blank, lambda r: "empty label")
    score = _score(frame, plan, reasons)
    rows = np.flatnonzero(has_file & (codes >= 0))
    return _annotation_frame(rows, codes[rows], "label", frame, plan,
                             {"score": score[rows]}), names


def _multilabel(frame, plan, reasons):
    """``file_name,labels``: one row per image, labels split on the file's delimiter."""
    cells = _text(frame[plan["roles"]["labels"]])
    delimiter = plan.get("delimiter") or next(
        (d for d in DELIMITERS if cells.str.contains(d, regex=False, na=False).any()), None)
    plan["delimiter"] = delimiter or " "
    parts = (cells.str.split(delimiter, regex=False) if delimiter
             else cells.str.split()).explode().dropna()
    codes, names = _distinct(parts)
    keep = codes >= 0  # 'cat|' holds one label
    return _annotation_frame(parts.index.to_numpy()[keep], codes[keep], "label", frame, plan,
                             extras=False), names


def _label_columns(frame, plan, reasons):
    """``file_name,label_1,label_2,...``: every non-empty cell labels the row's image."""
    cells = pd.concat([frame[col] for col in plan["numbered"]], ignore_index=True)
    rows = np.tile(np.arange(len(frame)), len(plan["numbered"]))
    codes, names = _distinct(cells)
    order = np.argsort(rows, kind="stable")  # a row's label_1 before its label_2
    keep = order[codes[order] >= 0]
    return _annotation_frame(rows[keep], codes[keep], "label", frame, plan,
                             extras=False), names


def _onehot(frame, plan, reasons):
    """``file_name,cat,dog``: a label for every 1; empty cells read as 0."""
    matrix = np.zeros((len(frame), len(plan["classes"])), dtype=np.float64)
    for k, col in enumerate(plan["classes"]):
        values, present = _numbers(frame, col, reasons, col)
        _flag(reasons, present & (values != 0) & (values != 1),
              lambda r, col=col: f"{col} {_cell(frame[col], r)!r} is not 0 or 1")
        matrix[:, k] = values
    rows, cols = np.nonzero(matrix == 1)
    names = np.array([str(c).strip() for c in plan["classes"]], dtype=object)
    order = np.argsort(names, kind="stable")
    rank = np.empty(len(names), dtype=np.int64)
    rank[order] = np.arange(len(names))
    return _annotation_frame(rows, rank[cols], "label", frame, plan, extras=False), \
        names[order]


_BUILDERS = {"label": _single, "multilabel": _multilabel, "label_columns": _label_columns,
             "onehot": _onehot, "points": _points, "boxes": _boxes}


def _categories(anns: pd.DataFrame, names: np.ndarray, every: bool
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Categories 1..K in name order: the labels used (``every``: all of ``names``)."""
    codes = anns.pop("label").to_numpy()
    used = np.arange(len(names)) if every else np.unique(codes)
    ids = np.zeros(len(names), dtype=np.int64)
    ids[used] = np.arange(1, len(used) + 1)
    categories = pd.DataFrame({"id": np.arange(1, len(used) + 1),
                               "name": np.asarray(names, dtype=object)[used],
                               "supercategory": None})
    return categories, anns.assign(category_id=ids[codes], id=np.arange(1, len(anns) + 1))


# .. where the images are, and their sizes ..............................................

def _roots(file: Path, image_root: Path | None, images: pd.DataFrame) -> tuple[dict, bool]:
    """meta image_root (and split_roots when a split keeps its images in its own folder),
    and whether any image was found there."""
    here = Path(os.path.abspath(file.parent))
    bases = [Path(image_root)] if image_root else [*image_dirs(here), here,
                                                   *sibling_image_dirs(here)]
    names = images["file_name"].tolist()
    found = pick_root(bases, names)
    root = found or (Path(image_root) if image_root else here)
    split_roots = {}
    for split in images["split"].dropna().unique().tolist():
        mine = images["file_name"][images["split"] == split].tolist()
        # --image-root is tried as given before its <split>/ folder
        splits_first = [b / str(split) for b in bases]
        candidates = bases + splits_first if image_root else splits_first + bases
        mine_found = pick_root(candidates, mine)
        if mine_found is not None and mine_found != root:
            split_roots[split] = str(mine_found)
        found = found or mine_found
    return {"image_root": str(root), "split_roots": split_roots}, found is not None



# -- write -------------------------------------------------------------------------------

def write(ds: Dataset, out: Path, *, images: str, problems: Problems, single_file: bool,
          csv_layout: str | None = None, label_delimiter: str | None = None,
          empty_rows: bool = True) -> WriteNotes:
    """Write ``ds`` as one CSV table; return notes on what the layout could not hold.

    The layout is ``csv_layout``, else the one the dataset was read from (when it still
    fits), else chosen from the data: boxes -> ``boxes`` (TensorFlow's header), points ->
    ``points``, labels -> ``label`` when every image has exactly one, else ``multilabel``
    (joined with ``label_delimiter``, default ``|``). ``single_file`` writes the table at
    ``out`` itself; otherwise ``out/annotations.csv`` with the images (``images`` copy or
    link) in ``out/images/`` (``out/images/<split>/`` when splits had their own folders).
    With ``empty_rows``, images without objects get a row holding only the file name (and
    size), so they are not lost; tools that expect a box on every row want ``False``.

    Example:
        >>> notes = write(ds, Path("out"), images="none", problems=Problems(),
        ...               single_file=False)  # doctest: +SKIP
    """
    notes = WriteNotes()
    if csv_layout in LABEL_LAYOUTS and not (ds.annotations["kind"] == "label").any() \
            and len(ds.annotations):
        ds = to_image_labels(ds)  # detection data as image-level labels: every class present
        notes.say("boxes and points written as image-level labels (every class present)")
    layout = _choose_layout(ds, csv_layout)
    columns = _TABLES[layout](ds, notes, label_delimiter, empty_rows)
    header, values = _header(columns, layout, ds.meta.get("csv"))
    _category_notes(ds, layout, notes)
    table = out if single_file else out / TABLE_FILE
    if not single_file:
        out.mkdir(parents=True)
    with open(table, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(zip(*[v.tolist() if isinstance(v, np.ndarray) else v
                               for v in values]))  # lists iterate faster than arrays
    _count(ds, layout, notes)
    if images != "none" and single_file:
        notes.say(f"images not placed (images={images!r}): a .csv target holds the table "
                  "only; write to a folder to place them")
    elif images != "none":
        _place(ds, out, images, problems, notes)
    return notes


def _choose_layout(ds: Dataset, layout: str | None) -> str:
    if layout is not None:
        if layout not in LAYOUTS:
            raise AnnokitError(f"csv_layout must be one of {', '.join(LAYOUTS)}, "
                               f"not {layout!r}")
        return layout
    kinds = set(ds.annotations["kind"].unique().tolist())
    previous = (ds.meta.get("csv") or {}).get("layout")
    holds = {"boxes": "box", "points": "point"}
    if previous in LAYOUTS and holds.get(previous, "label") in kinds:
        return previous
    if "box" in kinds:
        return "boxes"
    if "point" in kinds:
        return "points"
    labels = ds.annotations["image_id"][ds.annotations["kind"] == "label"]
    per_image = labels.value_counts().reindex(ds.images["id"], fill_value=0)
    return "label" if len(per_image) and (per_image == 1).all() else "multilabel"


def _rows_of(ds: Dataset, kind: str, notes: WriteNotes, layout: str
             ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The annotations a layout holds, each one's image position and class name; notes on
    the rest."""
    anns = ds.annotations
    mine = (anns["kind"] == kind).to_numpy()
    others = anns["kind"][~mine].value_counts()
    if len(others):
        notes.say(f"CSV layout {layout!r} holds {PLURAL[kind]} only: "
                  + ", ".join(f"{n} {PLURAL.get(str(k), k)}" for k, n in others.items())
                  + " not written")
    anns = anns[mine]
    pos = pd.Index(ds.images["id"]).get_indexer(anns["image_id"])
    named = _named(ds)
    ok = _on_named_images(pos, named)
    if not ok.all():
        notes.say(f"{int((~ok).sum())} {PLURAL[kind]} on images without a file name (or not in "
                  "the image table) not written")
    if not named.all():
        notes.say(f"{int((~named).sum())} images without a file name not written")
    segs = anns["segmentation"][ok].notna().sum()
    if segs:
        notes.say(f"CSV cannot hold segmentation: {int(segs)} polygons/masks dropped"
                  + (", boxes kept" if kind == "box" else ""))
    if not ok.all():
        anns = anns[ok]
    return anns, pos[ok], _category_names(ds, anns)


def _on_named_images(pos: np.ndarray, named: np.ndarray) -> np.ndarray:
    """Which annotations (by image position, -1 for none) sit on an image with a name."""
    ok = pos >= 0
    ok[ok] = named[pos[ok]]
    return ok


def _count(ds: Dataset, layout: str, notes: WriteNotes) -> None:
    """Count what a layout writes: its kind's annotations on named images."""
    anns = ds.annotations
    mine = (anns["kind"] == LAYOUT_KIND.get(layout, "label")).to_numpy()
    pos = pd.Index(ds.images["id"]).get_indexer(anns["image_id"][mine])
    named = _named(ds)
    notes.wrote(images=int(named.sum()),
                annotations=int(_on_named_images(pos, named).sum()),
                categories=len(ds.categories))


def _with_empty_rows(ds: Dataset, anns: pd.DataFrame, pos: np.ndarray, names: np.ndarray,
                     empty_rows: bool, kind: str, notes: WriteNotes):
    """The rows in the dataset's order, then an empty row for each image without any."""
    has = np.zeros(len(ds.images), dtype=bool)
    has[pos] = True
    bare = np.flatnonzero(_named(ds) & ~has)
    if len(bare) and empty_rows:
        notes.say(f"{len(bare)} images without {PLURAL[kind]} written as rows holding only "
                  "the file name (empty_rows=False leaves them out)")
        anns = pd.concat([anns, pd.DataFrame(index=range(len(bare)))], ignore_index=True)
        pos = np.concatenate([pos, bare])
        names = np.concatenate([names, np.full(len(bare), None, dtype=object)])
    elif len(bare):
        notes.say(f"{len(bare)} images without {PLURAL[kind]} not written "
                  "(empty_rows=False)")
    return anns, pos, names


def _named(ds: Dataset) -> np.ndarray:
    """Which images have a file name (the CSV's key)."""
    names = ds.images["file_name"]
    return names.notna().to_numpy() & (names.to_numpy(dtype=object) != "")


def _image_columns(ds: Dataset, pos: np.ndarray, layout: str) -> dict:
    """file name, split and size columns for rows on the images at ``pos``.

    Sizes are written when known (always for TF boxes), unless the table was read from a
    CSV of this layout without them: then its header comes back as it was.
    """
    img = ds.images
    columns = {"file": img["file_name"].to_numpy(dtype=object)[pos]}
    known = img["width"].notna().any() or img["height"].notna().any()
    previous = ds.meta.get("csv") or {}
    if previous.get("layout") == layout and previous.get("roles"):
        sizes = bool("width" in previous["roles"] and known)
    else:
        sizes = bool(known or layout == "boxes")
    if sizes:
        for side in ("width", "height"):
            columns[side] = _cells(img[side].to_numpy(dtype=float, na_value=np.nan)[pos])
    if img["split"].notna().any():
        columns["split"] = img["split"].to_numpy(dtype=object)[pos]
    return columns


def _category_names(ds: Dataset, anns: pd.DataFrame) -> np.ndarray:
    names = ds.categories["name"].astype(str).to_numpy(dtype=object)
    at = pd.Index(ds.categories["id"]).get_indexer(anns["category_id"])
    return np.where(at >= 0, names[np.maximum(at, 0)], NONE)


def _extra_columns(frame: pd.DataFrame, schema: dict, notes: WriteNotes, what: str) -> dict:
    """Pass-through columns that a cell can hold (numbers, text, flags); notes on others."""
    out: dict[str, list | np.ndarray] = {}
    dropped: list[str] = []
    for col in frame.columns:
        if col in schema:
            continue
        kind = pd.api.types.infer_dtype(frame[col], skipna=True)
        if kind == "empty":  # nothing in the rows written: no column
            continue
        if kind in ("integer", "floating", "mixed-integer-float"):
            out[f"extra:{col}"] = _cells(frame[col].to_numpy(dtype=float, na_value=np.nan))
        elif kind in ("decimal", "boolean", "string"):
            out[f"extra:{col}"] = np.where(frame[col].notna().to_numpy(),
                                           frame[col].to_numpy(dtype=object), NONE)
        else:
            dropped.append(str(col))
    if dropped:
        notes.say(f"{what} columns a CSV cell cannot hold not written: {', '.join(dropped)}")
    return out


def _boxes_table(ds, notes, delimiter, empty_rows) -> dict:
    anns, pos, names = _rows_of(ds, "box", notes, "boxes")
    anns, pos, names = _with_empty_rows(ds, anns, pos, names, empty_rows, "box", notes)
    x, y = anns["x"].to_numpy(float), anns["y"].to_numpy(float)
    image = _image_columns(ds, pos, "boxes")
    split = {"split": image.pop("split")} if "split" in image else {}
    columns = {**image, "label": names,
               "xmin": _coords(x), "ymin": _coords(y),
               "xmax": _coords(x + anns["w"].to_numpy(float)),
               "ymax": _coords(y + anns["h"].to_numpy(float))}
    columns.update(_score_column(anns))
    columns.update(split)
    if (anns["iscrowd"].fillna(0) != 0).any():
        columns["iscrowd"] = _cells(anns["iscrowd"].to_numpy(dtype=float, na_value=np.nan))
    _note_image_extras(ds, notes, "boxes")
    return {**columns, **_extra_columns(anns, ANNOTATION_SCHEMA, notes, "annotation")}


def _points_table(ds, notes, delimiter, empty_rows) -> dict:
    anns, pos, names = _rows_of(ds, "point", notes, "points")
    anns, pos, names = _with_empty_rows(ds, anns, pos, names, empty_rows, "point", notes)
    image = _image_columns(ds, pos, "points")
    columns = {"file": image.pop("file"), "x": _coords(anns["x"].to_numpy(float)),
               "y": _coords(anns["y"].to_numpy(float)), "label": names,
               **_score_column(anns), **image}
    _note_image_extras(ds, notes, "points")
    return {**columns, **_extra_columns(anns, ANNOTATION_SCHEMA, notes, "annotation")}


def _label_table(ds, notes, delimiter, empty_rows) -> dict:
    anns, pos, names = _rows_of(ds, "label", notes, "label")
    bare = np.setdiff1d(np.arange(len(ds.images)), pos).size
    if bare:
        notes.say(f"{bare} images without a label are not in a single-label CSV "
                  "(csv_layout='multilabel' keeps them)")
    image = _image_columns(ds, pos, "label")
    columns = {"file": image.pop("file"), "label": names,
               **_score_column(anns), **image}
    _note_image_extras(ds, notes, "label")
    return {**columns, **_extra_columns(anns, ANNOTATION_SCHEMA, notes, "annotation")}


def _per_image_labels(ds: Dataset, notes: WriteNotes, layout: str):
    """Labels with their image positions (image order), for the one-row-per-image layouts."""
    anns, pos, names = _rows_of(ds, "label", notes, layout)
    order = np.argsort(pos, kind="stable")
    anns, pos, names = anns.iloc[order], pos[order], names[order]
    scored = int(anns["score"].notna().sum())
    if scored:
        notes.say(f"CSV layout {layout!r} has no score: {scored} scores not written")
    extra = [c for c in anns.columns if c not in ANNOTATION_SCHEMA]
    if extra:
        notes.say(f"CSV layout {layout!r} has one row per image: annotation columns "
                  f"{', '.join(map(str, extra))} not written")
    return anns, pos, names, np.flatnonzero(_named(ds))


def _multilabel_table(ds, notes, delimiter, empty_rows) -> dict:
    anns, pos, names, rows = _per_image_labels(ds, notes, "multilabel")
    delimiter = delimiter or _delimiter_for(ds, notes)
    joined = pd.Series(names, dtype=object).groupby(pos).agg(delimiter.join)
    cells = joined.reindex(rows, fill_value="").to_numpy(dtype=object)
    columns = _image_columns(ds, rows, "multilabel")
    return {"file": columns.pop("file"), "labels": cells, **columns,
            **_image_extras(ds, rows, notes)}


def _delimiter_for(ds: Dataset, notes: WriteNotes) -> str:
    """The delimiter read from this file, else '|'; never one that a class name holds."""
    previous = (ds.meta.get("csv") or {}).get("delimiter")
    names = ds.categories["name"].astype(str)
    for d in ([previous] if previous else []) + ["|", ";"]:
        if not (names.str.contains(d, regex=False) if d != " " else
                names.str.contains(r"\s")).any():
            if d != DELIMITERS[0] and (names.str.contains("|", regex=False)).any():
                notes.say(f"class names hold '|': labels joined with {d!r}; read it back "
                          f"with label_delimiter={d!r}")
            return d
    raise AnnokitError("class names hold both '|' and ';': write csv_layout='label_columns' "
                       "or 'onehot', or give label_delimiter")


def _label_columns_table(ds, notes, delimiter, empty_rows) -> dict:
    anns, pos, names, rows = _per_image_labels(ds, notes, "label_columns")
    k = pd.Series(pos).groupby(pos).cumcount().to_numpy()
    at = pd.Index(rows).get_indexer(pos)
    cells = np.full((len(rows), int(k.max()) + 1 if len(k) else 1), None, dtype=object)
    cells[at, k] = names
    columns = _image_columns(ds, rows, "label_columns")
    file = columns.pop("file")
    labels = {f"label_{j + 1}": cells[:, j] for j in range(cells.shape[1])}
    return {"file": file, **labels, **columns, **_image_extras(ds, rows, notes)}


def _onehot_table(ds, notes, delimiter, empty_rows) -> dict:
    anns, pos, _, rows = _per_image_labels(ds, notes, "onehot")
    names = ds.categories["name"].astype(str).tolist()
    reserved = {n for spellings in SPELLINGS.values() for n in spellings}
    clash = [n for n in names if _key(n) in reserved or LABEL_N.fullmatch(_key(n))]
    if clash:
        raise AnnokitError(f"class names {', '.join(clash)} read as other columns in a "
                           "one-hot CSV: write csv_layout='multilabel'")
    cat = pd.Index(ds.categories["id"]).get_indexer(anns["category_id"])
    matrix = np.zeros((len(rows), len(names)), dtype=np.int64)
    matrix[pd.Index(rows).get_indexer(pos), cat] = 1
    columns = _image_columns(ds, rows, "onehot")
    file = columns.pop("file")
    _note_image_extras(ds, notes, "onehot")
    return {"file": file, **{f"class:{n}": matrix[:, j] for j, n in enumerate(names)},
            **columns}


_TABLES = {"label": _label_table, "multilabel": _multilabel_table,
           "label_columns": _label_columns_table, "onehot": _onehot_table,
           "points": _points_table, "boxes": _boxes_table}


def _score_column(anns: pd.DataFrame) -> dict:
    score = anns["score"].to_numpy(dtype=float, na_value=np.nan)
    return {"score": _coords(score)} if np.isfinite(score).any() else {}


def _image_extras(ds: Dataset, rows: np.ndarray, notes: WriteNotes) -> dict:
    return _extra_columns(ds.images.iloc[rows], IMAGE_SCHEMA, notes, "image")


def _note_image_extras(ds: Dataset, notes: WriteNotes, layout: str) -> None:
    extra = [str(c) for c in ds.images.columns if c not in IMAGE_SCHEMA]
    if extra:
        why = ("its columns are classes" if layout == "onehot" else
               "it has a row per annotation")
        notes.say(f"CSV layout {layout!r} cannot hold image columns ({why}): "
                  f"{', '.join(extra)} not written")


def _category_notes(ds: Dataset, layout: str, notes: WriteNotes) -> None:
    """What the categories lose: unused classes, ids, supercategories."""
    cats = ds.categories
    if layout != "onehot":
        anns = ds.annotations
        written = anns["category_id"][anns["kind"] == LAYOUT_KIND.get(layout, "label")]
        used = cats["id"].isin(written)
        if not used.all():
            notes.say("categories without annotations are not kept: "
                      + ", ".join(map(str, cats["name"][~used])))
    names = cats["name"].astype(str)
    expected = names.rank(method="dense").astype(np.int64)
    if not (cats["id"].to_numpy() == expected.to_numpy()).all():
        notes.say("category ids are not kept: a CSV holds names, read back as ids 1..K "
                  "in name order")
    if cats["supercategory"].notna().any():
        notes.say("CSV has no supercategory: not written")


# .. text of the cells ..................................................................

def _coords(values: np.ndarray) -> list[str]:
    """Coordinates as cells: integers without '.0', fractions in full (never in scientific
    notation), NaN empty; ``x + w`` an ulp off the source's short decimal is snapped back
    (the shared coordinate text, without rounding: CSV keeps every digit)."""
    return coordinate_text(values, decimals=None)


def _cells(values: np.ndarray) -> list:
    """Numbers as cells: whole ones as int (no '.0'), others as float (csv writes their
    shortest repr), NaN as None (an empty cell)."""
    whole = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < 2**53)
    if whole.all():
        return values.astype(np.int64).tolist()
    out = values.astype(object)
    out[whole] = values[whole].astype(np.int64)
    out[np.isnan(values)] = None
    return out.tolist()


def _header(columns: dict, layout: str, meta_csv: dict | None) -> tuple[list[str], list]:
    """Column names for the roles, in order; a table read from CSV keeps its own header."""
    names = TF_NAMES if layout == "boxes" else OUT_NAMES
    keys = list(columns)
    header = [k.split(":", 1)[1] if ":" in k else names.get(k, k) for k in keys]
    if meta_csv and meta_csv.get("layout") == layout:
        original = meta_csv.get("roles") or {}
        header = [original.get(k, h) for k, h in zip(keys, header)]
        place = {h: i for i, h in enumerate(meta_csv.get("header") or [])}
        order = sorted(range(len(keys)), key=lambda i: (place.get(header[i], len(place)), i))
        keys, header = [keys[i] for i in order], [header[i] for i in order]
    return header, [columns[k] for k in keys]


# .. images ..............................................................................

def _place(ds: Dataset, out: Path, mode: str, problems: Problems, notes: WriteNotes
           ) -> None:
    """Copy or link the images to ``out/images/`` (``images/<split>/`` for split folders)."""
    names = ds.images["file_name"]
    split_roots = ds.meta.get("split_roots") or {}
    folders = [out / "images" / s if isinstance(s, str) and s in split_roots else out / "images"
               for s in ds.images["split"]]
    sources = ds.image_paths()
    destinations: list[str | None] = []
    for i, (folder, name) in enumerate(zip(folders, names)):
        if isinstance(name, str) and safe_relative(name):
            destinations.append(os.path.join(folder, name))
            continue
        destinations.append(None)
        problems.skip(FormatError(sources.iloc[i] or str(name), f"file_name {name!r} leaves "
                                  "the image folder; image not placed",
                                  place=f"image id {ds.images['id'].iloc[i]}"))
    notes.say_all(place_images(sources, pd.Series(destinations, index=names.index, dtype=object),
                               mode))
