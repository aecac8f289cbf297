"""Format registry: detect a dataset's format, read it into a Dataset, write one out.

Each format is one module with plain functions:

    detect(path: Path) -> bool          does this file or folder look like my layout?
    read(path: Path, *, problems: Problems, **options) -> Dataset
    write(ds: Dataset, out: Path, *, images: str, problems: Problems,
          single_file: bool, **options) -> WriteNotes   # what the target could not hold

The options each takes are listed in READ_OPTIONS and WRITE_OPTIONS (a test holds them
to the signatures); an option given for a format that does not take it is an error.
Where images are, their sizes and safe names are one shared policy: :mod:`.layout`.

``write`` builds the output at ``out`` (a path that does not exist yet); this module
makes that atomic and safe.
"""
from __future__ import annotations

import os
from importlib import import_module
from pathlib import Path
from typing import Callable

from ..errors import AnnokitError, FormatError, Problems
from ..fileio import atomic_output, kernel_path
from ..model import Dataset, UnpairedSurrogate, surrogate_reason
from .target import WriteNotes, refuse_unholdable

FORMATS = ("coco", "voc", "yolo", "imagefolder", "csv", "parquet")
# YOLO and folder-per-class layouts need the images beside their labels
DEFAULT_IMAGES = {"coco": "none", "voc": "none", "yolo": "link", "imagefolder": "link",
                  "csv": "none", "parquet": "none"}
SINGLE_FILE = {"coco": ".json", "csv": ".csv"}  # formats that can be one file

# The options each format's reader and writer take. An option given for a format that does
# not take it is an error, never dropped silently.
READ_OPTIONS = {"coco": {"image_root"}, "voc": {"image_root", "voc_one_based"},
                "yolo": {"image_root"}, "imagefolder": set(),
                "csv": {"image_root", "csv_layout", "label_delimiter"},
                "parquet": {"image_root"}}
WRITE_OPTIONS = {"coco": {"layout"}, "voc": {"voc_one_based"}, "yolo": {"yolo_task"},
                 "imagefolder": {"crops", "crop_padding", "crop_min_size"},
                 "csv": {"csv_layout", "label_delimiter", "empty_rows"}, "parquet": set()}
# The value that means "not given" (the CLI passes every option, unset ones at these);
# None for any option not named here.
NOT_GIVEN = {"voc_one_based": False, "crops": False, "crop_padding": 0.0, "crop_min_size": 1.0,
             "empty_rows": True}
ALL_OPTIONS = set().union(*READ_OPTIONS.values(), *WRITE_OPTIONS.values())


def _module(name: str):
    if name not in FORMATS:
        raise AnnokitError(f"unknown format {name!r}: choose one of {', '.join(FORMATS)}")
    return import_module(f".{name}", __name__)


def _given(options: dict) -> list[str]:
    """The options whose value is not the "not given" one, in order."""
    return [k for k, v in options.items()
            if v is not None and not (k in NOT_GIVEN and v == NOT_GIVEN[k])]


def _flag(name: str) -> str:
    return f"--{name.replace('_', '-')}"


def check_options(options: dict, *, reader: str | None = None, writer: str | None = None
                  ) -> None:
    """Refuse an option that neither the ``reader`` nor the ``writer`` format takes.

    Example:
        >>> check_options({"voc_one_based": True}, reader="coco")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        annokit.errors.AnnokitError: --voc-one-based (voc_one_based) does not apply to a ...
    """
    known = (READ_OPTIONS[reader] if reader else set()) | \
        (WRITE_OPTIONS[writer] if writer else set())
    for name in _given(options):
        if name not in ALL_OPTIONS:
            raise AnnokitError(f"unknown option {name!r}; format options are "
                               f"{', '.join(sorted(ALL_OPTIONS))}")
        if name not in known:
            sides = " or ".join(f"{'an' if f[0] in 'aeiou' else 'a'} {f} {side}"
                                for f, side in ((reader, "input"), (writer, "output")) if f)
            owners = sorted({f for table in (READ_OPTIONS, WRITE_OPTIONS)
                             for f, names in table.items() if name in names})
            raise AnnokitError(f"{_flag(name)} ({name}) does not apply to {sides}; "
                               f"formats that take it: {', '.join(owners)}")


def _pick(options: dict, table: dict, format: str) -> dict:
    return {k: v for k, v in options.items() if k in table[format]}


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

    Lenient by default: broken records are skipped and listed in ``ds.notes`` (kind
    "skipped"); ``strict=True`` raises the first as a ``FormatError``. What the reader
    worked out for itself (a folder found under another name) is a "read" note there too.
    Format options (:data:`READ_OPTIONS`; another format's option is an error):
    ``image_root`` (not for imagefolder), ``voc_one_based`` (VOC's official 1-based pixel
    indices), ``csv_layout`` and ``label_delimiter`` (CSV). An input that yields no image
    is an error.

    Example:
        >>> ds = read("fixtures/shapes/voc")  # doctest: +SKIP
        >>> ds.summary_line()  # doctest: +SKIP
        '12 images, 35 annotations, 3 categories'
    """
    path = _existing(path)
    if image_root is not None:
        image_root = kernel_path(image_root)  # link/.. climbs out of the link's target
        if not Path(image_root).is_dir():
            raise AnnokitError(f"{image_root}: --image-root is not a folder")
    format = format or detect(path)
    module = _module(format)
    options["image_root"] = None if image_root is None else Path(image_root).absolute()
    check_options(options, reader=format)
    problems = Problems(strict)
    try:
        ds = module.read(path, problems=problems, **_pick(options, READ_OPTIONS, format))
    except UnicodeEncodeError as e:  # a lone surrogate met pandas' UTF-8 strings
        raise FormatError(path, surrogate_reason(e.object)) from None
    except UnpairedSurrogate as e:  # pandas < 3 keeps it; the model refuses it
        raise FormatError(path, e.reason) from None
    ds.meta["notes"] = problems.notes
    ds.meta["source_format"] = format
    ds.meta["source_path"] = str(path.absolute())  # provenance: what a FiftyOne dataset protects
    if not len(ds.images):
        raise AnnokitError(_no_images(path, format, problems.skipped))
    return ds


def _existing(path: str | os.PathLike) -> Path:
    path = Path(kernel_path(path))  # as the shell means it: link/.. is the link's parent
    if not path.exists():
        why = "a broken link or a link loop" if path.is_symlink() else "no such file or folder"
        raise AnnokitError(f"{path}: {why}")
    if not (path.is_file() or path.is_dir()):  # /dev/zero, a FIFO: reading never ends
        raise AnnokitError(f"{path}: not a regular file or folder")
    return path


def _no_images(path: Path, format: str, skipped: list[str]) -> str:
    """The one line for an input without a single image."""
    line = f"{path}: no images in this {format} dataset"
    if skipped:
        more = f" and {len(skipped) - 1} more" if len(skipped) > 1 else ""
        return f"{line}; every record was skipped (first: {skipped[0]}{more})"
    return line + " (is it the right folder or file? give --format if detection chose wrong)"


def write(ds: Dataset, path: str | os.PathLike, format: str, *, overwrite: bool = False,
          images: str | None = None, strict: bool = False,
          protect: tuple[str | os.PathLike, ...] = (), **options) -> WriteNotes:
    """Write ``ds`` as ``format`` at ``path``, atomically; return notes on what was left out.

    The notes are a :class:`~annokit.formats.target.WriteNotes`: "write" notes
    (:class:`annokit.notes.Notes`; kind "skipped" for a record left out of the output)
    whose ``written`` counts what went out. A target that
    can hold none of the annotations (points as VOC) is refused before anything is written.

    ``images`` is 'copy', 'link' or 'none' (YOLO links by default, the others write
    annotations only). A non-empty ``path`` is refused unless ``overwrite``; ``protect``
    names inputs that must never be written over. Format options (:data:`WRITE_OPTIONS`;
    another format's option is an error): ``layout`` (COCO), ``voc_one_based``,
    ``yolo_task`` ('detect' or 'segment'), ``crops``, ``crop_padding``, ``crop_min_size``
    (imagefolder), ``csv_layout``, ``label_delimiter``, ``empty_rows`` (CSV).

    Example:
        >>> notes = write(ds, "out/coco", "coco")  # doctest: +SKIP
    """
    module = _module(format)
    check_options(options, writer=format)
    path = Path(path)
    suffix = path.suffix.lower()
    single_file = suffix == SINGLE_FILE.get(format)
    if not single_file and suffix in SINGLE_FILE.values():
        raise AnnokitError(f"{path}: a {suffix} target is one file, which {format} is not; "
                           "name a folder")
    refuse_unholdable(ds, format)  # before anything is written
    problems = Problems(strict, source="write")
    roots = (ds.meta.get("image_root"), *(ds.meta.get("split_roots") or {}).values(),
             *ds.meta.get("image_folders", ()))  # a merge's inputs' image folders
    with atomic_output(path, overwrite=overwrite, protect=protect, keep=roots) as tmp:
        notes = module.write(ds, tmp, images=images or DEFAULT_IMAGES[format],
                             problems=problems, single_file=single_file,
                             **_pick(options, WRITE_OPTIONS, format))
    # the records the writer left out ("skipped"), then its notes on what the target lacks
    return WriteNotes([*problems.notes, *notes], **notes.written)


def convert(src: str | os.PathLike, dst: str | os.PathLike, src_format: str | None,
            dst_format: str, *, transform: Callable[[Dataset], Dataset] | None = None,
            **options) -> tuple[Dataset, WriteNotes]:
    """Read ``src`` and write it as ``dst_format`` at ``dst``; return the dataset and notes.

    Each format option goes to the side whose format takes it (``voc_one_based`` to both
    for VOC to VOC); one that neither takes is an error. ``transform`` (a function of a
    Dataset, e.g. a class map) changes the dataset between reading and writing.

    Example:
        >>> ds, notes = convert("data/voc", "data/coco", "voc", "coco")  # doctest: +SKIP
    """
    src = _existing(src)
    src_format = src_format or detect(src)
    given = {k: options.pop(k) for k in ALL_OPTIONS if k in options}
    check_options(given, reader=src_format, writer=dst_format)
    ds = read(src, src_format, strict=options.get("strict", False),
              **_pick(given, READ_OPTIONS, src_format))
    if transform is not None:
        ds = transform(ds)
    notes = write(ds, dst, dst_format, protect=(src,), **options,
                  **_pick(given, WRITE_OPTIONS, dst_format))
    return ds, notes
