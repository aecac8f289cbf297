"""Pairing the images and classes of predictions with those of the ground truth.

Images are paired by ``file_name`` when both sides name every image once, else by image
id; classes are paired by name. Every metric (points, detection, classification) builds
on this one pairing.

Example:
    >>> from annokit.evaluate.align import on_ground_truth
    >>> anns, notes = on_ground_truth(pred, gt)   # doctest: +SKIP
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
import pandas as pd

from ..errors import AnnokitError
from ..model import NONE, Dataset

MAX_NAMED = 3  # names quoted in a note; the rest are counted


def pairing(pred: Dataset, gt: Dataset) -> dict:
    """Integer codes shared by both sides: images by file name (or by id when a side has an
    image without one, or one name twice), classes by name; and what each code stands for.

    Example:
        >>> codes = pairing(pred, gt)  # doctest: +SKIP
        >>> codes["classes"]           # doctest: +SKIP
        array(['cat', 'dog'], dtype=object)
    """
    named = all(d.images["file_name"].notna().all() and d.images["file_name"].is_unique
                and (d.images["file_name"].to_numpy(dtype=object) != "").all()
                for d in (pred, gt))
    column = "file_name" if named else "id"
    image_codes, images = pd.factorize(np.concatenate(
        [gt.images[column].to_numpy(dtype=object), pred.images[column].to_numpy(dtype=object)]))
    class_codes, classes = pd.factorize(np.concatenate(
        [gt.categories["name"].astype(str).to_numpy(dtype=object),
         pred.categories["name"].astype(str).to_numpy(dtype=object)]))
    n_img, n_cat = len(gt.images), len(gt.categories)
    return {"images": np.asarray(images, dtype=object),
            "classes": np.asarray(classes, dtype=object),
            "by": column,
            "gt": (pd.Series(image_codes[:n_img], index=gt.images["id"].to_numpy()),
                   pd.Series(class_codes[:n_cat], index=gt.categories["id"].to_numpy())),
            "pred": (pd.Series(image_codes[n_img:], index=pred.images["id"].to_numpy()),
                     pd.Series(class_codes[n_cat:], index=pred.categories["id"].to_numpy()))}


def objects(ds: Dataset, codes: tuple[pd.Series, pd.Series], kinds: tuple[str, ...]
            ) -> pd.DataFrame:
    """The annotations of ``kinds`` with their image and class codes (-1: unknown)."""
    anns = ds.annotations[ds.annotations["kind"].isin(kinds)]
    return pd.DataFrame({"id": anns["id"].to_numpy(), "kind": anns["kind"].to_numpy(),
                         "image": code(codes[0], anns["image_id"]),
                         "category": code(codes[1], anns["category_id"]),
                         "x": anns["x"].to_numpy(float), "y": anns["y"].to_numpy(float),
                         "w": anns["w"].to_numpy(float), "h": anns["h"].to_numpy(float),
                         "score": anns["score"].to_numpy(float)},
                        index=anns.index)


def code(codes: pd.Series, ids: pd.Series) -> np.ndarray:
    """The code of each id (-1 where ``codes`` lacks it)."""
    at = pd.Index(codes.index).get_indexer(ids)
    return np.where(at >= 0, codes.to_numpy()[np.maximum(at, 0)], -1) if len(codes) else \
        np.full(len(ids), -1)


def decode(values: np.ndarray, codes: pd.Series) -> np.ndarray:
    """What each code stands for (None for -1)."""
    at = codes.to_numpy()
    return np.where(at >= 0, values[np.maximum(at, 0)] if len(values) else NONE, NONE)


def on_ground_truth(pred: Dataset, gt: Dataset, kinds: tuple[str, ...] = ("box",)
                    ) -> tuple[pd.DataFrame, list[str]]:
    """The predicted annotations of ``kinds`` with ``image_id`` and ``category_id`` turned into
    the ground truth's ids; those on an image or of a class the ground truth lacks are left
    out, each group named in a note.

    Raises when predictions exist but none of their classes is a ground-truth class (the
    class names do not match at all).

    Example:
        >>> anns, notes = on_ground_truth(pred, gt)  # doctest: +SKIP
        >>> notes  # doctest: +SKIP
        ['2 predictions on 1 image not in the ground truth left out (e.g. x.jpg)']
    """
    codes = pairing(pred, gt)
    anns = pred.annotations[pred.annotations["kind"].isin(kinds)]
    notes = []
    other = len(pred.annotations) - len(anns)
    if other:
        notes.append(f"{other} predictions that are not {' or '.join(kinds)}es left out"
                     if kinds == ("box",) else
                     f"{other} predictions of another kind than {', '.join(kinds)} left out")
    image = code(codes["pred"][0], anns["image_id"])
    category = code(codes["pred"][1], anns["category_id"])
    gt_images = _inverse(codes["gt"][0])
    gt_classes = _inverse(codes["gt"][1])
    image_id = gt_images.reindex(image).to_numpy()
    category_id = gt_classes.reindex(category).to_numpy()
    no_image, no_class = np.isnan(image_id), np.isnan(category_id)
    if len(anns) and no_image.all():
        raise AnnokitError(
            f"no predicted image is a ground-truth image (paired by {codes['by']}): predictions "
            f"are on {_names(codes['images'][image])}, the ground truth has "
            f"{_names(codes['images'][codes['gt'][0].to_numpy()])}")
    if len(anns) and no_class.all() and len(gt.categories):
        raise AnnokitError(
            "no predicted class is a ground-truth class: predictions have "
            f"{_names(pred.categories['name'][pred.categories['id'].isin(anns['category_id'])])}"
            f", the ground truth has {_names(gt.categories['name'])}")
    if no_image.any():
        unknown = sorted(set(_decode_names(codes, image[no_image],
                                           anns["image_id"].to_numpy()[no_image])))
        notes.append(f"{int(no_image.sum())} predictions on {len(unknown)} images not in "
                     f"the ground truth left out (e.g. {', '.join(unknown[:MAX_NAMED])})")
    if (no_class & ~no_image).any():
        names = codes["classes"][category[no_class & ~no_image]] \
            if (category[no_class & ~no_image] >= 0).all() else \
            anns["category_id"].to_numpy()[no_class & ~no_image]
        unknown = sorted(set(map(str, names)))
        notes.append(f"{int((no_class & ~no_image).sum())} predictions of {len(unknown)} classes "
                     f"the ground truth lacks left out ({', '.join(unknown[:MAX_NAMED])}"
                     f"{', ...' if len(unknown) > MAX_NAMED else ''})")
    keep = ~no_image & ~no_class
    out = anns[keep].copy()
    out["image_id"] = image_id[keep].astype(np.int64)
    out["category_id"] = category_id[keep].astype(np.int64)
    return out, notes


def unpredicted_note(gt: Dataset, predicted_image_ids: ArrayLike, kind: str) -> str | None:
    """A note on the ground-truth images holding objects of ``kind`` (crowds aside: they are
    ignored) that no prediction (given by ground-truth image id) is on: every object there
    counts as a miss.

    Example:
        >>> unpredicted_note(gt, preds["image_id"], "box")  # doctest: +SKIP
        '314 of 364 images with ground-truth boxes have no predictions; their 4,210 boxes
        count as misses'
    """
    anns = gt.annotations
    crowd = anns["iscrowd"].fillna(0).astype(bool) if "iscrowd" in anns else False
    truth = anns[(anns["kind"] == kind) & ~crowd & anns["image_id"].isin(gt.images["id"])]
    held = truth["image_id"].unique()
    missed = ~pd.Series(held).isin(pd.unique(np.asarray(predicted_image_ids))).to_numpy()
    if not missed.any():
        return None
    objects = int(truth["image_id"].isin(held[missed]).sum())
    return misses_note(int(missed.sum()), len(held), objects, "box" if kind == "box" else kind)


def misses_note(missed: int, held: int, objects: int, noun: str = "object") -> str:
    """'3 of 12 images with ground-truth boxes have no predictions; their 7 boxes count as
    misses', in the singular where it is one.

    Example:
        >>> misses_note(1, 2, 1, "box")
        '1 of 2 images with ground-truth boxes has no predictions; its 1 box counts as a miss'
    """
    plural = "boxes" if noun == "box" else f"{noun}s"
    one = missed == 1
    return (f"{missed:,} of {held:,} images with ground-truth {plural} "
            f"{'has' if one else 'have'} no predictions; {'its' if one else 'their'} "
            f"{objects:,} {noun if objects == 1 else plural} "
            f"{'counts as a miss' if objects == 1 else 'count as misses'}")


def _inverse(codes: pd.Series) -> pd.Series:
    """Code -> the first id with that code, as float (NaN: no such id)."""
    first = ~pd.Index(codes.to_numpy()).duplicated()
    return pd.Series(codes.index.to_numpy()[first].astype(float), index=codes.to_numpy()[first])


def _decode_names(codes: dict, image: np.ndarray, ids: np.ndarray) -> list[str]:
    values, by_id = codes["images"], codes["by"] == "id"
    return [f"image id {i}" if c < 0 or by_id else str(values[c]) for c, i in zip(image, ids)]


def _names(values: pd.Series) -> str:
    names = sorted(set(map(str, values)))
    return "[" + ", ".join(names[:8]) + (", ..." if len(names) > 8 else "") + "]"


def onto(pred: Dataset, gt: Dataset, kinds: tuple[str, ...] = ("box",)
         ) -> tuple[Dataset, list[str]]:
    """``pred`` re-keyed onto ``gt``'s images and classes (:func:`on_ground_truth`) as a
    Dataset sharing ``gt``'s images and categories: the one pairing ``eval``, ``score
    --predictions`` and ``browse --predictions`` use. Already on ``gt`` (same images and
    categories): as it is.

    Example:
        >>> paired, notes = onto(pred, gt)  # doctest: +SKIP
    """
    if pred.images.equals(gt.images) and pred.categories.equals(gt.categories):
        anns = pred.annotations[pred.annotations["kind"].isin(kinds)]
        return Dataset(gt.categories.copy(), gt.images.copy(), anns, {}), []
    anns, notes = on_ground_truth(pred, gt, kinds)
    return Dataset(gt.categories.copy(), gt.images.copy(), anns, {}), notes
