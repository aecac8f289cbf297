"""Filters: ``--where`` expressions, empty images, random samples of images.

An expression is parsed with Python's ``ast`` and only a whitelist of nodes is allowed:
comparisons (``== != < <= > >=``, chained), ``and``/``or``/``not``, ``+ - * / // %``,
numbers, strings, ``True``/``False``, column names and ``in [...]`` lists. Nothing is ever
``eval``-ed; the tree is evaluated on whole columns.

Columns: every annotation column (``x, y, w, h, kind, score, iscrowd``, pass-through
attributes...), ``category`` (the class name), ``area`` (``w * h``), and every image column
(``file_name, width, height, split``...). An expression that names only image columns
(and ``image_id``) keeps or drops whole images; one that names an annotation column keeps
or drops annotations (images stay unless ``--drop-empty-images``).

Example:
    >>> out = where(ds, 'w * h >= 36 and category != "Platelets"')  # doctest: +SKIP
    >>> out = where(ds, 'split == "train" and width >= 640')         # doctest: +SKIP
"""
from __future__ import annotations

import ast
import operator

import numpy as np
import pandas as pd

from ..errors import AnnokitError
from ..model import Dataset

MAX_EXPRESSION = 10_000  # characters; a filter is one line
VIRTUAL = ("category", "area")

_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt,
            ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge}
_ARITH = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
          ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}
ALLOWED = "comparisons, and/or/not, + - * / // %, numbers, strings, column names, in [...]"


class WhereError(AnnokitError):
    """A bad ``--where`` expression: where it is wrong and what is allowed."""


def _shown(expr: str) -> str:
    """The expression as an error line quotes it: at most 80 characters."""
    return repr(expr if len(expr) <= 80 else expr[:77] + "...")


def _fail(expr: str, node: ast.AST | None, reason: str) -> WhereError:
    col = getattr(node, "col_offset", None)
    place = f" at column {col + 1}" if col is not None else ""
    return WhereError(f"--where {_shown(expr)}{place}: {reason}")


def parse(expr: str) -> ast.Expression:
    """The checked syntax tree of ``expr``; raise one line for bad syntax or a node that
    is not allowed.

    Example:
        >>> type(parse("w * h >= 36").body).__name__
        'Compare'
        >>> parse("__import__('os')")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        annokit.edit.where.WhereError: --where "__import__('os')" at column 1: a function ...
    """
    if not isinstance(expr, str) or not expr.strip():
        raise WhereError("--where needs an expression, e.g. 'w * h >= 36'")
    if len(expr) > MAX_EXPRESSION:
        raise WhereError(f"--where: {len(expr)} characters is too long (at most "
                         f"{MAX_EXPRESSION})")
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as e:
        place = f" at column {e.offset}" if e.offset else ""
        raise WhereError(f"--where {_shown(expr)}{place}: bad syntax ({e.msg})") from None
    except (RecursionError, MemoryError, ValueError):
        raise WhereError("--where: the expression is nested too deeply or is not text")\
            from None
    for parent in ast.walk(tree):
        for node in (parent, *ast.iter_child_nodes(parent)):
            if not _allowed(node):  # operators carry no position: name their parent's
                where = node if hasattr(node, "col_offset") else parent
                raise _fail(expr, where, f"{_describe(node)} is not allowed (allowed: "
                            f"{ALLOWED})")
    return tree


def _allowed(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (int, float, str)) and not isinstance(node.value, bytes)
    return isinstance(node, (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp,
                             ast.Not, ast.USub, ast.UAdd, ast.Compare, ast.BinOp, ast.Name,
                             ast.Load, ast.List, ast.Tuple, ast.In, ast.NotIn,
                             *_COMPARE, *_ARITH))


def _describe(node: ast.AST) -> str:
    words = {ast.Call: "a function call", ast.Attribute: "an attribute (a.b)",
             ast.Subscript: "indexing (a[b])", ast.Pow: "'**'", ast.Lambda: "a lambda",
             ast.IfExp: "'x if c else y'", ast.Is: "'is'", ast.IsNot: "'is not'"}
    for kind, text in words.items():
        if isinstance(node, kind):
            return text
    if isinstance(node, ast.Constant):
        return f"the constant {node.value!r}"
    return f"'{type(node).__name__}'"


def columns_named(tree: ast.AST) -> list[str]:
    """The column names ``tree`` uses, in order of first use."""
    seen = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in seen:
            seen.append(node.id)
    return seen


def _image_level(ds: Dataset) -> set[str]:
    return (set(ds.images.columns) - {"id"}) | {"image_id"}


def available(ds: Dataset) -> list[str]:
    """Every column an expression may name on ``ds``."""
    anns = [c for c in ds.annotations.columns if c != "segmentation"]
    return list(dict.fromkeys([*anns, *VIRTUAL, *(c for c in ds.images.columns if c != "id")]))


def mask(ds: Dataset, expr: str) -> tuple[str, np.ndarray]:
    """Evaluate ``expr`` on ``ds``: ('images', a mask over ds.images) for an expression on
    image columns only, else ('annotations', a mask over ds.annotations).

    Example:
        >>> mask(ds, "width >= 640")[0]  # doctest: +SKIP
        'images'
    """
    tree = parse(expr)
    names = columns_named(tree)
    known = available(ds)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in known:
            raise _fail(expr, node, f"unknown column {node.id!r}; the columns are "
                        f"{', '.join(known)}")
    level = "images" if set(names) <= _image_level(ds) else "annotations"
    table = _table(ds, level, names)
    try:
        with np.errstate(all="ignore"):
            result = _eval(tree.body, table, expr)
    except (TypeError, ValueError) as e:
        raise WhereError(f"--where {_shown(expr)}: cannot be evaluated on these columns "
                         f"({str(e).splitlines()[0][:200]})") from None
    if not isinstance(result, pd.Series) or result.dtype != bool:
        if isinstance(result, pd.Series) and result.dtype == "boolean":
            result = result.fillna(False).astype(bool)
        else:
            raise WhereError(f"--where {_shown(expr)}: is not a condition (it gives "
                             f"{'values' if isinstance(result, pd.Series) else 'a constant'}, "
                             "not true/false per row); compare something, e.g. 'w >= 6'")
    return level, result.to_numpy(bool)


def _table(ds: Dataset, level: str, names: list[str]) -> pd.DataFrame:
    """The columns ``names`` at ``level``: annotations with their image's columns joined."""
    if level == "images":
        images = ds.images
        return pd.DataFrame({n: images["id"] if n == "image_id" else images[n]
                             for n in names}, index=images.index)
    anns = ds.annotations
    columns = {}
    image_rows = None
    for n in names:
        if n in anns:
            columns[n] = anns[n]
        elif n == "category":
            columns[n] = anns["category_id"].map(
                ds.categories.drop_duplicates("id").set_index("id")["name"])
        elif n == "area":
            columns[n] = anns["w"] * anns["h"]
        else:
            if image_rows is None:
                image_rows = pd.Index(ds.images["id"]).get_indexer(anns["image_id"])
            values = ds.images[n].to_numpy()
            picked = values[np.clip(image_rows, 0, None)] if len(values) else \
                np.full(len(anns), None, object)
            columns[n] = pd.Series(picked, index=anns.index).where(image_rows >= 0, None)
    return pd.DataFrame(columns, index=anns.index)


def _eval(node: ast.AST, table: pd.DataFrame, expr: str):
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return _numeric(table[node.id])
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_eval(e, table, expr) for e in node.elts]
    if isinstance(node, ast.BoolOp):
        values = [_as_bool(_eval(v, table, expr), table, expr, v) for v in node.values]
        combine = operator.and_ if isinstance(node.op, ast.And) else operator.or_
        out = values[0]
        for value in values[1:]:
            out = combine(out, value)
        return out
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, table, expr)
        if isinstance(node.op, ast.Not):
            return ~_as_bool(value, table, expr, node.operand)
        _no_text(value, node, expr)
        return -value if isinstance(node.op, ast.USub) else +value
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, table, expr), _eval(node.right, table, expr)
        _no_text(left, node, expr)
        _no_text(right, node, expr)
        return _ARITH[type(node.op)](left, right)
    if isinstance(node, ast.Compare):
        return _compare(node, table, expr)
    raise _fail(expr, node, f"{_describe(node)} is not allowed")


def _numeric(column: pd.Series) -> pd.Series:
    """Nullable numbers as float (NA -> NaN), so comparisons give plain true/false."""
    if isinstance(column.dtype, pd.api.extensions.ExtensionDtype) and \
            pd.api.types.is_numeric_dtype(column.dtype):
        return column.astype("float64")
    return column


def _no_text(value, node: ast.AST, expr: str) -> None:
    if isinstance(value, (str, list)) or (isinstance(value, pd.Series)
                                          and value.dtype == object):
        raise _fail(expr, node, "arithmetic takes numbers, not text or lists")


def _as_bool(value, table: pd.DataFrame, expr: str, node: ast.AST) -> pd.Series:
    if isinstance(value, pd.Series) and value.dtype == bool:
        return value
    if isinstance(value, bool):
        return pd.Series(value, index=table.index)
    raise _fail(expr, node, "'and', 'or' and 'not' join conditions (e.g. 'w > 6 and h > 6')")


def _compare(node: ast.Compare, table: pd.DataFrame, expr: str) -> pd.Series:
    left = _eval(node.left, table, expr)
    out = pd.Series(True, index=table.index)  # a chain (a < b < c) holds where every link does
    for op, right_node in zip(node.ops, node.comparators):
        right = _eval(right_node, table, expr)
        if isinstance(op, (ast.In, ast.NotIn)):
            if not isinstance(right, list) or any(isinstance(v, (list, pd.Series))
                                                  for v in right):
                raise _fail(expr, right_node, "'in' takes a list of values, e.g. "
                            "category in [\"car\", \"bus\"]")
            values = left if isinstance(left, pd.Series) else pd.Series(left, index=table.index)
            result = values.isin(right)
            result = ~result if isinstance(op, ast.NotIn) else result
        else:
            if isinstance(left, list) or isinstance(right, list):
                raise _fail(expr, right_node, "a list goes with 'in' only")
            result = _COMPARE[type(op)](left, right)
            if not isinstance(result, pd.Series):
                result = pd.Series(bool(result), index=table.index)
        result = result.fillna(False).astype(bool) if result.dtype != bool else result
        out = out & result
        left = right
    return out


def where(ds: Dataset, expr: str) -> Dataset:
    """``ds`` keeping the images or annotations for which ``expr`` holds (see the module).

    Example:
        >>> where(ds, 'category in ["RBC", "WBC"] and w >= 6')  # doctest: +SKIP
    """
    level, keep = mask(ds, expr)
    out = ds.copy()
    if level == "images":
        out.images = out.images[keep].reset_index(drop=True)
        out.annotations = out.annotations[out.annotations["image_id"].isin(out.images["id"])] \
            .reset_index(drop=True)
    else:
        out.annotations = out.annotations[keep].reset_index(drop=True)
    return out


def drop_empty_images(ds: Dataset) -> Dataset:
    """``ds`` without the images that hold no annotation.

    Example:
        >>> drop_empty_images(ds).images["id"].isin(ds.annotations["image_id"]).all()
        ...                                                         # doctest: +SKIP
        True
    """
    out = ds.copy()
    out.images = out.images[out.images["id"].isin(out.annotations["image_id"])] \
        .reset_index(drop=True)
    return out


def sample_images(ds: Dataset, size: float, seed: int = 0) -> Dataset:
    """A random sample of ``ds``'s images with their annotations: ``size`` images when it
    is 1 or more, else that fraction of them (rounded, at least one). Same seed, same sample;
    images keep their order.

    Example:
        >>> len(sample_images(ds, 0.5, seed=0)) == round(len(ds) / 2)  # doctest: +SKIP
        True
    """
    total = len(ds.images)
    if not np.isfinite(size) or size <= 0:
        raise AnnokitError(f"--sample must be a count of at least 1 or a fraction in (0, 1), "
                           f"not {size!r}")
    if size >= 1:
        if size != int(size):
            raise AnnokitError(f"--sample {size!r}: a count is a whole number (a fraction "
                               "lies below 1)")
        count = min(int(size), total)
    else:
        count = max(1, int(round(size * total))) if total else 0
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(total, size=count, replace=False))
    out = ds.copy()
    out.images = out.images.iloc[rows].reset_index(drop=True)
    out.annotations = out.annotations[out.annotations["image_id"].isin(out.images["id"])] \
        .reset_index(drop=True)
    return out
