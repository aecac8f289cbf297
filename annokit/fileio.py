"""Writing output safely: atomic replace, refusing to clobber, placing image files.

Writers build their whole output in a temporary sibling of the target and rename it
into place at the end, so a failure (or Ctrl-C) never leaves half a dataset behind and
never touches what was there before.
"""
from __future__ import annotations

import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pandas as pd

from .errors import AnnokitError

IMAGE_MODES = ("copy", "link", "none")


def _is_nonempty(path: Path) -> bool:
    return path.is_file() or (path.is_dir() and any(path.iterdir()))


@contextmanager
def atomic_output(target: str | os.PathLike, *, overwrite: bool = False,
                  protect: tuple[str | os.PathLike, ...] = ()) -> Iterator[Path]:
    """Yield a fresh temporary path beside ``target``; move it onto ``target`` on success.

    ``target`` may become a file or a folder, whichever the body creates at the yielded
    path. An existing non-empty target is refused unless ``overwrite``; a target that is,
    or contains, one of the ``protect`` paths (the input) is always refused.

    Example:
        >>> with atomic_output("out/annotations.json") as tmp:  # doctest: +SKIP
        ...     tmp.write_text("{}")
    """
    target = Path(target).absolute()
    for p in protect:
        p = Path(p).absolute()
        if target == p or target in p.parents or (p.is_dir() and p in target.parents):
            raise AnnokitError(f"{target}: refusing to write over or into the input ({p})")
    if _is_nonempty(target) and not overwrite:
        raise AnnokitError(f"{target}: exists and is not empty (use --overwrite to replace it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.annokit-{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        if not tmp.exists():  # the writer wrote nothing: an empty folder is still output
            tmp.mkdir()
        _replace(tmp, target)
    finally:
        _remove(tmp)


def _replace(new: Path, target: Path) -> None:
    if not target.exists() and not target.is_symlink():
        os.replace(new, target)
        return
    old = target.with_name(f".{target.name}.annokit-old-{uuid.uuid4().hex[:8]}")
    os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(old, target)
        raise
    _remove(old)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def safe_relative(file_name: str) -> bool:
    """True when ``file_name`` stays inside the folder it is relative to.

    Example:
        >>> safe_relative("train/a.jpg"), safe_relative("../a.jpg"), safe_relative("/etc/x")
        (True, False, False)
    """
    if not file_name or os.path.isabs(file_name) or file_name.startswith(("/", "\\")):
        return False
    parts = file_name.replace("\\", "/").split("/")
    return ".." not in parts and ":" not in parts[0]


def place_images(sources: pd.Series, destinations: pd.Series, mode: str) -> list[str]:
    """Copy or link each source image to its destination; return what could not be placed.

    ``mode`` is 'copy', 'link' (a hard link where the filesystem allows, else a
    symbolic link) or 'none'. Missing sources are reported, not fatal: the annotations are
    still written.
    """
    if mode == "none":
        return []
    if mode not in IMAGE_MODES:
        raise AnnokitError(f"--images must be one of {', '.join(IMAGE_MODES)}, not {mode!r}")
    problems = []
    made_dirs: set[str] = set()
    for src, dst in zip(sources, destinations):
        if src is None or dst is None:
            continue
        if not os.path.exists(src):
            problems.append(f"{src}: image not found, not {mode}ed")
            continue
        parent = os.path.dirname(dst)
        if parent not in made_dirs:
            os.makedirs(parent, exist_ok=True)
            made_dirs.add(parent)
        if mode == "copy":
            shutil.copyfile(src, dst)
        else:
            _link(src, dst)
    return problems


def _link(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        os.symlink(os.path.abspath(src), dst)
