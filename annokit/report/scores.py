"""The scores in the report (from annokit.score): their tables, their JSON, a terminal line.

Example:
    >>> print(scores_summary(ds, annokit.score(ds)))  # doctest: +SKIP
    likely annotation errors: 2 (swap 2), 3 candidate overlooked objects on 4 images; ...
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..model import Dataset
from ..notes import Notes
from ..score.contract import ANNOTATION_COLUMNS, IMAGE_COLUMNS, ISSUES
from .summary import file_names, plain, plural

# the scores contract's schema and issue names (annokit/score/contract.py owns them)
SCORE_ANNOTATION_COLUMNS = list(ANNOTATION_COLUMNS)
SCORE_IMAGE_COLUMNS = list(IMAGE_COLUMNS)
BOX_COLUMNS = ["suggested_x", "suggested_y", "suggested_w", "suggested_h"]


@dataclass
class ScoreTables:
    """The two tables of a validated ``annokit.score.Scores``, with the contract's columns."""
    annotations: pd.DataFrame
    images: pd.DataFrame
    task: str
    notes: Notes


def prepare_scores(scores) -> ScoreTables | None:
    """The scores' two tables with the contract's columns (``annokit.score.Scores``), or None.

    Example:
        >>> prepare_scores(None) is None
        True
    """
    if scores is None:
        return None
    from ..score.contract import validate  # the contract's one check (lazy: no cycle)

    scores = validate(scores)
    return ScoreTables(scores.annotations[SCORE_ANNOTATION_COLUMNS].reset_index(drop=True),
                       scores.images[SCORE_IMAGE_COLUMNS].reset_index(drop=True),
                       scores.task, Notes(scores.notes))


def worst_first(quality: pd.Series) -> np.ndarray:
    """Row order by ascending quality, unscored (NaN) last, ties in their order.

    Example:
        >>> worst_first(pd.Series([0.5, float("nan"), 0.1, 0.5])).tolist()
        [2, 0, 3, 1]
    """
    q = quality.to_numpy(np.float64)
    return np.lexsort((np.arange(len(q)), np.where(np.isnan(q), np.inf, q)))


def suggested_boxes(anns: pd.DataFrame) -> list:
    """Each row's suggested [x, y, w, h], or None where the scorer suggests no box."""
    box = anns[BOX_COLUMNS].to_numpy(np.float64)
    known = np.isfinite(box).all(axis=1).tolist()
    return [b if k else None for b, k in zip(box.tolist(), known)]


def scores_json(ds: Dataset, scores: ScoreTables | None) -> dict | None:
    """The JSON report's ``scores``: counts, then images and annotations worst first."""
    if scores is None:
        return None
    anns = scores.annotations.iloc[worst_first(scores.annotations["quality"])]
    images = scores.images.iloc[worst_first(scores.images["quality"])]
    issue = anns["issue"]
    keys = ["annotation_id", "image_id", "category_id", "quality", "issue",
            "suggested_category_id"]
    columns = [plain(anns[c]) for c in keys]
    columns += [suggested_boxes(anns), plain(file_names(ds, anns["image_id"]))]
    image_columns = [plain(images[c]) for c in SCORE_IMAGE_COLUMNS]
    image_columns.append(plain(file_names(ds, images["image_id"])))
    return {"task": scores.task,
            "counts": {"annotations": int(anns["annotation_id"].notna().sum()),
                       "overlooked_candidates": int((issue == "overlooked").sum()),
                       "flagged": int(issue.notna().sum()),
                       "images_flagged": int((images["n_issues"] > 0).sum()),
                       "by_issue": {i: int((issue == i).sum()) for i in ISSUES}},
            "skipped": scores.notes.of("skipped").texts(),
            "images": [dict(zip([*SCORE_IMAGE_COLUMNS, "file_name"], row))
                       for row in zip(*image_columns)],
            "annotations": [dict(zip([*keys, "suggested_bbox", "file_name"], row))
                            for row in zip(*columns)]}


def scores_summary(ds: Dataset, scores) -> str:
    """One line for the terminal: likely errors per issue and the worst image.

    Example:
        >>> print(scores_summary(ds, annokit.score(ds)))  # doctest: +SKIP
        likely annotation errors: 2 (swap 2), 3 candidate overlooked objects on 4 images; ...
    """
    data = scores_json(ds, prepare_scores(scores))
    assert data is not None  # scores were given
    counts = data["counts"]
    # candidate overlooked objects are not annotations: counted apart, after the errors
    by_issue = {i: n for i, n in counts["by_issue"].items() if n and i != "overlooked"}
    parts = ", ".join(f"{i} {n:,}" for i, n in by_issue.items())
    line = f"likely annotation errors: {sum(by_issue.values()):,}" + (
        f" ({parts})" if parts else "")
    if counts["overlooked_candidates"]:
        line += f", {plural(counts['overlooked_candidates'], 'candidate overlooked object')}"
    line += f" on {plural(counts['images_flagged'], 'image')}"
    worst = data["images"][0] if data["images"] else None
    if worst and worst["n_issues"]:
        line += f"; worst {worst['file_name'] or worst['image_id']} " \
            f"(quality {quality_text(worst['quality'])})"
    return line


def quality_text(value) -> str:
    """A quality with two decimals, '–' when unscored.

    Example:
        >>> quality_text(0.031), quality_text(None)
        ('0.03', '–')
    """
    return "–" if value is None or value != value else f"{float(value):.2f}"


def class_name(names: pd.Series, category_id) -> str:
    """The category's name ('id 7' when undefined, '' when there is none).

    Example:
        >>> class_name(pd.Series({1: "cat"}), 7)
        'id 7'
    """
    if category_id is None or category_id is pd.NA or category_id != category_id:
        return ""
    return str(names.get(int(category_id), f"id {int(category_id)}"))
