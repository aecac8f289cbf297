"""Format registry: detect a dataset's format, read it into a Dataset, write one out.

Each format is one module with plain functions:

    detect(path: Path) -> bool          does this file or folder look like my layout?
    read(path: Path, *, problems: Problems, image_root: Path | None, **opts) -> Dataset
    write(ds: Dataset, out: Path, *, images: str, problems: Problems,
          single_file: bool, **opts) -> list[str]   # notes on what the target could not hold

``write`` builds the output at ``out`` (a path that does not exist yet); this module
makes that atomic and safe.
"""
from __future__ import annotations

import inspect
import os
from importlib import import_module
from pathlib import Path

from ..errors import AnnokitError, Problems
from ..fileio import atomic_output
from ..model import Dataset
from .target import Notes, refuse_unholdable

FORMATS = ("coco", "voc", "yolo", "imagefolder", "csv")
# YOLO and folder-per-class layouts need the images beside their labels
DEFAULT_IMAGES = {"coco": "none", "voc": "none", "yolo": "link", "imagefolder": "link",
                  "csv": "none"}
SINGLE_FILE = {"coco": ".json", "csv": ".csv"}  # formats that can be one file


def _module(name: str):
    if name not in FORMATS:
        raise AnnokitError(f"unknown format {name!r}: choose one of {', '.join(FORMATS)}")
    return import_module(f".{name}", __name__)


def _call(func, *args, **options):
    """Call ``func`` with the options it takes (formats share one set of options)."""
    params = inspect.signature(func).parameters
    return func(*args, **{k: v for k, v in options.items() if k in params})


def detect(path: str | os.PathLike) -> str:
    """Name the format of the dataset at ``path``; raise when none or several fit.

    Example:
        >>> detect("fixtures/coco/basic/annotations.json")  # doctest: +SKIP
        'coco'
    """
    path = Path(path)
    found = [name for name in FORMATS if _module(name).detect(path)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise AnnokitError(f"{path}: cannot tell the dataset format; give it explicitly "
                           f"({', '.join(FORMATS)})")
    raise AnnokitError(f"{path}: ambiguous, looks like {' and '.join(found)}; "
                       "give the format explicitly")


def read(path: str | os.PathLike, format: str | None = None, *, strict: bool = False,
         image_root: str | os.PathLike | None = None, **options) -> Dataset:
    """Read the dataset at ``path`` (format detected when None).

    Lenient by default: broken records are skipped and listed in ``ds.meta['skipped']``;
    ``strict=True`` raises the first as a ``FormatError``. Format options:
    ``voc_one_based`` (VOC's official 1-based pixel indices).

    Example:
        >>> ds = read("fixtures/shapes/voc")  # doctest: +SKIP
        >>> ds.summary_line()  # doctest: +SKIP
        '12 images, 35 annotations, 3 categories'
    """
    path = Path(path)
    if not path.exists():
        raise AnnokitError(f"{path}: no such file or folder")
    if image_root is not None and not Path(image_root).is_dir():
        raise AnnokitError(f"{image_root}: --image-root is not a folder")
    format = format or detect(path)
    problems = Problems(strict)
    ds = _call(_module(format).read, path, problems=problems,
               image_root=None if image_root is None else Path(image_root).absolute(),
               **options)
    ds.meta["skipped"] = problems.messages()
    ds.meta["source_format"] = format
    return ds


def write(ds: Dataset, path: str | os.PathLike, format: str, *, overwrite: bool = False,
          images: str | None = None, strict: bool = False,
          protect: tuple[str | os.PathLike, ...] = (), **options) -> list[str]:
    """Write ``ds`` as ``format`` at ``path``, atomically; return notes on what was left out.

    The notes are a :class:`~annokit.formats.target.Notes`: a list of lines whose
    ``written`` counts what went out. A target that can hold none of the annotations
    (points as VOC) is refused before anything is written.

    ``images`` is 'copy', 'link' or 'none' (YOLO links by default, the others write
    annotations only). A non-empty ``path`` is refused unless ``overwrite``; ``protect``
    names inputs that must never be written over. Format options: ``voc_one_based``,
    ``yolo_task`` ('detect' or 'segment').

    Example:
        >>> notes = write(ds, "out/coco", "coco")  # doctest: +SKIP
    """
    module = _module(format)
    path = Path(path)
    suffix = path.suffix.lower()
    single_file = suffix == SINGLE_FILE.get(format)
    if not single_file and suffix in SINGLE_FILE.values():
        raise AnnokitError(f"{path}: a {suffix} target is one file, which {format} is not; "
                           "name a folder")
    refuse_unholdable(ds, format)  # before anything is written
    problems = Problems(strict)
    with atomic_output(path, overwrite=overwrite, protect=protect) as tmp:
        notes = _call(module.write, ds, tmp, images=images or DEFAULT_IMAGES[format],
                      problems=problems, single_file=single_file, **options)
    return Notes(problems.messages() + list(notes), **getattr(notes, "written", {}))


def convert(src: str | os.PathLike, dst: str | os.PathLike, src_format: str | None,
            dst_format: str, **options) -> tuple[Dataset, list[str]]:
    """Read ``src`` and write it as ``dst_format`` at ``dst``; return the dataset and notes.

    Example:
        >>> ds, notes = convert("data/voc", "data/coco", "voc", "coco")  # doctest: +SKIP
    """
    read_options = {k: options.pop(k) for k in ("image_root",) if k in options}
    shared = {k: options[k] for k in ("strict", "voc_one_based") if k in options}
    ds = read(src, src_format, **read_options, **shared)
    notes = write(ds, dst, dst_format, protect=(src,), **options)
    return ds, notes
