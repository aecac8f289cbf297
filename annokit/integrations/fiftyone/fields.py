"""The names annokit gives what it writes into FiftyOne, shared by the way in and the way out.

Field and tag names, the names FiftyOne keeps for itself, and how a pass-through column
becomes a field name. Nothing here imports FiftyOne.
"""
from __future__ import annotations

import re
from datetime import datetime

import numpy as np
import pandas as pd

from ...model import ANNOTATION_SCHEMA, IMAGE_SCHEMA, Dataset

EXTRA = "pip install 'annokit[fiftyone]'"
GT, PRED, SEG, POINTS, LABELS, OVERLOOKED = ("ground_truth", "predictions", "segmentations",
                                             "points", "labels", "overlooked")
TAG = "annokit:"                # prefix of the tags annokit writes (checks, issue types)
REVIEWED = "reviewed"           # the tag a reviewer sets; it comes back as a column
INFO = "annokit"                # key in dataset.info
WORST_VIEW = "annokit worst first"
BUILDING = "annokit-building-"  # name prefix of a dataset while to_fiftyone builds it
BATCH = 2000                    # samples per insert
DECIMALS = 9                    # relative -> pixel coordinates are rounded to 1e-9 px
# names a FiftyOne label or sample keeps for itself; attributes by these names get a prefix
LABEL_RESERVED = {"id", "_id", "_cls", "label", "bounding_box", "mask", "mask_path",
                  "confidence", "index", "tags", "attributes", "points", "closed", "filled",
                  "annokit_id", "quality", "issue", "suggested_label", "logits", "findings"}
SAMPLE_RESERVED = {"id", "_id", "filepath", "tags", "metadata", "media_type", "created_at",
                   "last_modified_at", "annokit_id", "file_name", "split", "quality",
                   "n_findings", "findings", GT, PRED, SEG, POINTS, LABELS, OVERLOOKED}
NOT_ATTRIBUTES = set(ANNOTATION_SCHEMA) - {"iscrowd"}  # iscrowd travels as an attribute
# label field -> (its list of objects, what summary_line calls them)
COUNTED = {GT: ("detections", "boxes"), SEG: ("polylines", "polygons"),
           POINTS: ("keypoints", "points"), LABELS: ("classifications", "image labels"),
           PRED: ("detections", "predicted boxes"),
           OVERLOOKED: ("detections", "overlooked candidates")}


def field_name(column, reserved: set) -> str:
    """A FiftyOne field name for a pass-through column: letters, digits and '_', not
    starting with '_' or a digit, not one FiftyOne or annokit keeps for itself.

    Example:
        >>> field_name("difficult", LABEL_RESERVED), field_name("2nd pass", set())
        ('difficult', 'annokit_2nd_pass')
        >>> field_name("label", LABEL_RESERVED)
        'annokit_label'
    """
    name = re.sub(r"\W", "_", str(column), flags=re.ASCII)
    if name != str(column) or name in reserved or not name or not name[0].isalpha():
        name = "annokit_" + name
    return name


def attribute_name(column) -> str:
    """The label attribute holding the annotation column ``column``."""
    return field_name(column, LABEL_RESERVED)


def attribute_columns(ds: Dataset) -> list[str]:
    """The annotation columns that travel as label attributes."""
    return [c for c in ds.annotations.columns if c not in NOT_ATTRIBUTES]


def extra_image_fields(ds: Dataset) -> dict[str, str]:
    """Image pass-through column -> the sample field holding it."""
    return {c: field_name(c, SAMPLE_RESERVED) for c in ds.images.columns
            if c not in IMAGE_SCHEMA}


def plain(value):
    """A value MongoDB can store (numpy scalars as Python, NaN/NA as None).

    Example:
        >>> plain({"a": np.int64(3), "b": [np.float32(0.5), float("nan")]})
        {'a': 3, 'b': [0.5, None]}
    """
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (pd.Timestamp, datetime)):
        return value.isoformat()
    return value


def summary_line(fo_dataset) -> str:
    """Samples and objects per field of a FiftyOne dataset annokit built, in words.

    Example:
        >>> summary_line(fo.load_dataset("annokit-Dataset"))  # doctest: +SKIP
        '2062 samples, 2062 image labels'
    """
    schema = fo_dataset.get_field_schema()
    parts = [f"{len(fo_dataset)} samples"]
    parts += [f"{fo_dataset.count(f'{field}.{items}')} {words}"
              for field, (items, words) in COUNTED.items() if field in schema]
    return ", ".join(parts)
