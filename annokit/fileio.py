"""Writing output safely: one output policy for every file a command writes.

The policy (``check_output``) is the same for datasets, reports, lists and JSON:

* a target is where the kernel puts it (``kernel_path``: ``link/..`` climbs out of the
  link's target); paths are compared resolved (``os.path.realpath``) and by identity
  (device, inode), so a symlink, ``../x/in`` or a hard link to an input is the input;
* a folder this user cannot write, or a report path ending in ``/``, is refused before
  the work;
* nothing is written over or inside an input, and no input lies inside a replaced target;
* a non-empty dataset target needs ``overwrite``; a report file is replaced on a re-run,
  but never when it is a folder or an input.

Writers build their output in a temporary sibling ``.NAME.annokit-PID-XXXX.tmp`` and move
it into place at the end, so a failure, Ctrl-C or SIGTERM never leaves half an output and
never touches what was there. A lock file beside the target makes a second writer of the
same output fail cleanly; a new target is put in place with an exclusive final step.
Temporary folders of a killed run (their pid is dead) are removed by the next run.
"""
from __future__ import annotations

import ctypes
import errno
import os
import re
import shutil
import signal
import stat
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Iterator

import pandas as pd

from .errors import AnnokitError, FormatError

if TYPE_CHECKING:  # Pillow is imported where an image is opened
    from PIL import Image

IMAGE_MODES = ("copy", "link", "none")
PLACED = {"copy": "copied", "link": "linked"}
MAX_NAME_BYTES = 255  # one path component, as Linux and macOS allow
_TEMP = re.compile(r"\.annokit-(old-)?(\d+)-[0-9a-f]+(\.tmp)?$")

# -- the policy ---------------------------------------------------------------------

def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def _inside(child: str, parent: str) -> bool:
    return child.startswith(parent.rstrip(os.sep) + os.sep)


def _ancestors_identities(path: str) -> set[tuple[int, int]]:
    """(device, inode) of every existing folder above ``path`` (bind mounts, hard links)."""
    found = set()
    parent = os.path.dirname(path)
    while parent and parent != path:
        ident = _identity(parent)
        if ident:
            found.add(ident)
        path, parent = parent, os.path.dirname(parent)
    return found


def _overlaps(real: str, inp: str) -> bool:
    """True when ``target`` is ``inp``, lies inside it, or holds it (resolved paths)."""
    if real == inp or _inside(real, inp) or _inside(inp, real):
        return True
    t_id, i_id = _identity(real), _identity(inp)
    if t_id and t_id == i_id:
        return True
    return bool((i_id and i_id in _ancestors_identities(real))
                or (t_id and t_id in _ancestors_identities(inp)))


def _holds(real: str, inp: str) -> bool:
    """True when replacing ``real`` would remove ``inp`` (it is ``inp`` or holds it)."""
    if real == inp or _inside(inp, real):
        return True
    t_id = _identity(real)
    return bool(t_id and (t_id == _identity(inp) or t_id in _ancestors_identities(inp)))


def _check_name(target: Path) -> None:
    text = os.fspath(target)
    if "\x00" in text:
        raise AnnokitError(f"{text!r}: an output path cannot hold a NUL character")
    try:
        encoded = [os.fsencode(part) for part in target.parts]
    except UnicodeEncodeError:
        raise AnnokitError(f"{text!r}: the output path is not valid text for this "
                           "file system") from None
    if any(len(part) > MAX_NAME_BYTES for part in encoded):
        raise AnnokitError(f"{text[:80]}...: a name in the output path is longer than "
                           f"{MAX_NAME_BYTES} bytes")
    for parent in target.parents:  # 'out.json/x' under a regular file
        if os.path.lexists(parent):
            if not os.path.isdir(parent):
                raise AnnokitError(f"{target}: cannot be written: {parent} is a file, not a "
                                   "folder")
            return


def _check_writable(target: Path) -> None:
    """A folder this user cannot write is refused before the work, not after it."""
    parent = next((p for p in target.parents if os.path.lexists(p)), None)
    if parent is not None and not os.access(parent, os.W_OK | os.X_OK):
        raise AnnokitError(f"{target}: cannot be written: {_unwritable(parent)}")


def _unwritable(folder: Path) -> str:
    """Why ``folder`` cannot take a new entry, in the words of the OS error it would give."""
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return os.strerror(errno.EROFS)
    except OSError:
        pass
    return f"{os.strerror(errno.EACCES)} (the folder {folder} is read-only for this user)"


def kernel_path(path: str | os.PathLike) -> str:
    """``path`` as the kernel resolves it: where ``link/..`` climbs out of the link's target,
    not out of the folder holding the link (``os.path.abspath`` and ``normpath`` drop
    ``link/..`` lexically, which names another place when ``link`` is a symlink).

    Returned unchanged when the two agree (no ``..``, or none after a symlink), so
    messages keep the path as given; else absolute, with every folder resolved and the
    last name kept (an output that is itself a link is judged by the policy, not followed).

    Example:
        >>> kernel_path("out/coco"), kernel_path("a/../b")  # doctest: +SKIP
        ('out/coco', 'a/../b')
        >>> kernel_path("link/../x")  # link -> data/images  # doctest: +SKIP
        '/home/me/data/x'
    """
    text = os.fspath(path)
    if not isinstance(text, str) or ".." not in text.split("/"):
        return text
    head, name = os.path.split(text.rstrip("/") or "/")
    if name in ("..", ".", ""):
        real = os.path.realpath(text)
    else:
        real = os.path.join(os.path.realpath(head or "."), name)
    return text if real == os.path.abspath(text) else real


def check_output(target: str | os.PathLike, protect: tuple = (), *,
                 overwrite: bool = False, report: bool = False, keep: tuple = ()) -> Path:
    """Apply the output policy to ``target``; return it as an absolute path.

    ``protect`` names the inputs (files or folders): the target may not be one, lie inside
    one, or hold one, compared resolved. A dataset target (``report=False``) that exists and
    is not empty needs ``overwrite``; a report (``report=True``: JSON, HTML, lists) replaces
    an existing file but never a folder. ``keep`` names folders (image roots) that the
    target may lie inside but may not be or hold.

    Example:
        >>> check_output("out/coco", protect=("data/voc",))  # doctest: +SKIP
        PosixPath('/home/me/out/coco')
    """
    given = os.fspath(target)
    target = Path(os.path.abspath(kernel_path(target)))  # where the kernel would write
    _check_name(target)
    if report and isinstance(given, str) and given.endswith("/"):
        raise AnnokitError(f"{given}: names a folder (it ends in /); give a file name for "
                           "the report")
    real = os.path.realpath(target)
    _check_kind(target, real)
    for p in protect:
        if p is None:
            continue
        if _overlaps(real, os.path.realpath(os.fspath(p))):
            raise AnnokitError(f"{target}: refusing to write over or into the input ({p})")
    for p in keep:
        if p is not None and _holds(real, os.path.realpath(os.fspath(p))):
            raise AnnokitError(f"{target}: refusing to replace the image folder {p}")
    if report:
        if os.path.isdir(target):
            raise AnnokitError(f"{target}: is a folder; give a file name for the report")
        if os.path.lexists(target) and not overwrite:
            raise AnnokitError(f"{target}: exists (replace it with overwrite=True)")
    elif _is_nonempty(target) and not overwrite:
        raise AnnokitError(f"{target}: exists and is not empty (use --overwrite to replace it)")
    _check_writable(target)
    return target


_SYSTEM_TREES = ("/dev/", "/proc/", "/sys/")  # device and kernel files, never an output
_WRITABLE_TREES = ("/dev/shm/",)  # a RAM folder: ordinary files


def _system_path(path: str) -> bool:
    return path.startswith(_SYSTEM_TREES) and not path.startswith(_WRITABLE_TREES)


def _check_kind(target: Path, real: str) -> None:
    """Refuse a device, FIFO or socket (or a link to one, or into /dev or /proc) as an
    output: replacing ``/dev/null`` or ``/dev/stdout`` with a file, or a FIFO another
    program reads, is damage; ``-`` is how to ask for standard output."""
    try:
        mode = os.stat(target).st_mode
    except (OSError, ValueError):
        mode = None
    if mode is not None and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise AnnokitError(f"{target}: {_kind(mode)}, not a regular file; refusing to write "
                           "it (give a file path, or - for standard output where offered)")
    if _system_path(os.fspath(target)) or _system_path(real):
        raise AnnokitError(f"{target}: is a device or kernel file (under /dev, /proc or /sys); "
                           "refusing to write it (give a file path, or - for standard output "
                           "where offered)")


def _is_nonempty(path: Path) -> bool:
    if path.is_dir():
        with os.scandir(path) as entries:
            return any(True for _ in entries)
    return os.path.lexists(path)


# -- writing --------------------------------------------------------------------------

@contextmanager
def atomic_output(target: str | os.PathLike, *, overwrite: bool = False,
                  protect: tuple = (), report: bool = False, keep: tuple = ()
                  ) -> Iterator[Path]:
    """Yield a fresh temporary path beside ``target``; move it onto ``target`` on success.

    ``target`` may become a file or a folder, whichever the body creates at the yielded
    path. The output policy (:func:`check_output`) decides what may be replaced. A second
    writer of the same target fails while the first runs; OS errors (disk full, read-only)
    become one ``AnnokitError`` naming the output file.

    Example:
        >>> with atomic_output("out/annotations.json") as tmp:  # doctest: +SKIP
        ...     tmp.write_text("{}")
    """
    target = check_output(target, protect, overwrite=overwrite, report=report, keep=keep)
    made = _make_parent(target)
    try:
        with _lock(target):
            _clean_stale(target)
            existed = os.path.lexists(target)
            if existed:  # checked again under the lock: another writer may have finished
                check_output(target, protect, overwrite=overwrite, report=report, keep=keep)
            tmp = target.with_name(f".{target.name}.annokit-{os.getpid()}-"
                                   f"{uuid.uuid4().hex[:8]}.tmp")
            try:
                with _os_errors(tmp, target):
                    yield tmp
                    if not os.path.lexists(tmp):  # the writer wrote nothing: an empty folder
                        tmp.mkdir()
                    with _signals_held():  # the output and its record land together
                        if existed:
                            _replace(tmp, target)
                        else:
                            _place_new(tmp, target)
                        COMMITTED.append(target)
            finally:
                _remove(tmp)
    except BaseException:
        _unmake(made, target.parent)
        raise


def write_file_atomic(path: str | os.PathLike, data: bytes | str, *, protect: tuple = (),
                      overwrite: bool = True) -> Path:
    """Write ``data`` (text as UTF-8) to the report-like file ``path`` atomically.

    An existing file is replaced (a re-run of a pipeline), unless ``overwrite`` is False;
    a folder or an input (``protect``) never is.

    Example:
        >>> write_file_atomic("out/metrics.json", "{}\\n",
        ...                   protect=("data/gt.json",))  # doctest: +SKIP
        PosixPath('/home/me/out/metrics.json')
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    with atomic_output(path, overwrite=overwrite, protect=protect, report=True) as tmp:
        tmp.write_bytes(data)
    return Path(os.path.abspath(kernel_path(path)))


COMMITTED: list[Path] = []
"""Every output this process has put in place, in order: an interrupted run names them."""

_HELD = {signal.SIGINT, signal.SIGTERM}


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM while an output is moved into place, so an interrupted run
    reports exactly what it wrote (the handler runs after the block, not inside it)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # the handlers run in the main thread, which records nothing here
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextmanager
def _os_errors(tmp: Path, target: Path) -> Iterator[None]:
    """Disk full, read-only, permission denied: one line naming the output file."""
    try:
        yield
    except OSError as e:
        name = os.fsdecode(e.filename) if e.filename is not None else os.fspath(tmp)
        if not name.startswith(os.fspath(tmp)):  # an input that could not be read
            raise AnnokitError(f"{name}: {e.strerror or e}") from None
        name = os.fspath(target) + name[len(os.fspath(tmp)):]  # as it would be, not the temp
        raise AnnokitError(f"{name}: cannot be written: {e.strerror or e}") from None


def _make_parent(target: Path) -> Path | None:
    """Make the target's missing parent folders; return the topmost one made."""
    top = None
    for parent in reversed(target.parents):
        if not os.path.isdir(parent):
            top = top or parent
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AnnokitError(f"{target.parent}: cannot be made: {e.strerror or e}") from None
    return top


def _unmake(top: Path | None, parent: Path) -> None:
    """Remove the empty parent folders this run made (a failed run leaves nothing)."""
    if top is None:
        return
    while True:
        try:
            parent.rmdir()
        except OSError:
            return
        if parent == top:
            return
        parent = parent.parent


@contextmanager
def _lock(target: Path) -> Iterator[None]:
    """Hold ``.NAME.annokit.lock`` beside ``target``: one annokit writer per output.

    Not ``filelock``: its Unix lock is an ``flock`` on a file it leaves behind (a stray
    ``.lock`` beside every output), and it cannot say who holds it; this one is an
    ``O_EXCL`` file holding the writer's pid, removed after the run, named in the refusal,
    and taken over when that pid is gone (a killed run).
    """
    lock = target.with_name(f".{target.name}.annokit.lock")
    for attempt in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            pid = _read_pid(lock)
            if attempt or pid is None or _alive(pid):
                raise AnnokitError(f"{target}: another annokit run (pid {pid}) is writing "
                                   "it; try again when it has finished") from None
            _remove(lock)  # its writer was killed
        except OSError as e:
            raise AnnokitError(f"{target}: cannot be written: {e.strerror or e}") from None
    try:
        try:
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError as e:  # a full disk already: the lock file is all we made
            raise AnnokitError(f"{target}: cannot be written: {e.strerror or e}") from None
        finally:
            os.close(fd)
        yield
    finally:
        if _read_pid(lock) in (os.getpid(), None):
            _remove(lock)


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip() or "x")
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _clean_stale(target: Path) -> None:
    """Remove temporaries of ``target`` left by killed runs; restore an orphaned old copy."""
    prefix = f".{target.name}.annokit-"
    try:
        names = [n for n in os.listdir(target.parent) if n.startswith(prefix)]
    except OSError:
        return
    for name in names:
        m = _TEMP.search(name)
        if not m or _alive(int(m.group(2))):
            continue
        stale = target.parent / name
        if m.group(1) and not os.path.lexists(target):  # killed between the two renames
            os.replace(stale, target)
        else:
            _remove(stale)


def _place_new(new: Path, target: Path) -> None:
    """Move ``new`` to a ``target`` that did not exist; fail if something appeared there."""
    try:
        if _rename_noreplace(new, target):
            return
    except FileExistsError:
        raise AnnokitError(f"{target}: appeared while this run was writing it (another "
                           "program wrote it); left as it is") from None
    if os.path.lexists(target) and _is_nonempty(target):  # no exclusive rename here
        raise AnnokitError(f"{target}: appeared while this run was writing it (another "
                           "program wrote it); left as it is")
    _replace(new, target)


_RENAME_NOREPLACE = 1


def _rename_noreplace(src: Path, dst: Path) -> bool:
    """Linux renameat2(RENAME_NOREPLACE); False where the system lacks it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(src), at_fdcwd, os.fsencode(dst),
                 _RENAME_NOREPLACE) == 0:
        return True
    err = ctypes.get_errno()
    if err == errno.EEXIST or err == errno.ENOTEMPTY:
        raise FileExistsError(err, os.strerror(err), os.fspath(dst))
    if err in (errno.EINVAL, errno.ENOSYS, errno.EPERM):  # file system without it
        return False
    raise OSError(err, os.strerror(err), os.fspath(dst))


def _replace(new: Path, target: Path) -> None:
    if not os.path.lexists(target):
        os.replace(new, target)
        return
    old = target.with_name(f".{target.name}.annokit-old-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(old, target)
        raise
    _remove(old)


def _remove(path: Path) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        try:
            os.unlink(path)
        except OSError:
            pass


# -- reading inside a root ------------------------------------------------------------

def safe_relative(file_name: str) -> bool:
    """True when ``file_name`` stays inside the folder it is relative to.

    Example:
        >>> safe_relative("train/a.jpg"), safe_relative("../a.jpg"), safe_relative("/etc/x")
        (True, False, False)
    """
    if not isinstance(file_name, str) or not file_name or "\x00" in file_name:
        return False
    if os.path.isabs(file_name) or file_name.startswith(("/", "\\")):
        return False
    parts = file_name.replace("\\", "/").split("/")
    return ".." not in parts and ":" not in parts[0]


def confined(root: str | None, file_name: object) -> str | None:
    """``root/file_name`` when the name stays inside ``root``, else None (never read).

    The one place that decides whether an image named by an annotation file may be opened:
    names with ``..``, absolute names and names with a NUL are refused. Symlinks placed
    inside the root by the dataset's owner are followed.

    Example:
        >>> confined("/data/img", "a/b.jpg"), confined("/data/img", "../../etc/passwd")
        ('/data/img/a/b.jpg', None)
    """
    if not root or not isinstance(file_name, str) or not safe_relative(file_name):
        return None
    return os.path.join(root, file_name)


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
        try:
            kind = os.stat(src).st_mode
        except (OSError, ValueError):
            problems.append(f"{src}: image not found, not {mode}ed")
            continue
        if not stat.S_ISREG(kind):  # copying /dev/zero never ends; a FIFO blocks
            problems.append(f"{src}: {_kind(kind)}, not an image file; not {PLACED[mode]}")
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


# -- opening inputs: regular files only, bounded reads ------------------------------

def _kind(mode: int) -> str:
    """What a file that is not a regular file is, in words."""
    for test, words in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                        (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                        (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return words
    return "not a regular file"


def not_regular(path: str | os.PathLike) -> str | None:
    """What ``path`` is, in :func:`open_regular`'s words, when it exists and is not a regular
    file; None for a regular file or nothing there (a stat, never an open: a FIFO cannot
    hang it).

    Example:
        >>> not_regular("/dev/null"), not_regular("/no/such/file")
        ('a character device', None)
    """
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    return None if stat.S_ISREG(mode) else _kind(mode)


def open_regular(path: str | os.PathLike, *, limit: int | None = None,
                 what: str = "file") -> BinaryIO:
    """Open ``path`` for binary reading when it is a regular file of at most ``limit`` bytes.

    The one guard every input goes through: a FIFO, a device (``/dev/zero``), a socket or a
    folder is refused with one line instead of hanging or filling memory (the file is opened
    non-blocking, so even a FIFO with no writer returns at once), a link loop or a missing
    file is one line too. ``what`` names the file in the message ("predictions file").

    Example:
        >>> open_regular("/dev/zero")
        Traceback (most recent call last):
        ...
        annokit.errors.FormatError: /dev/zero: a character device, not a regular file
    """
    name = os.fspath(path)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise FormatError(name, _open_error(e, what)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FormatError(name, f"{_kind(info.st_mode)}, not a regular file")
        if limit is not None and info.st_size > limit:
            raise FormatError(name, f"{info.st_size:,} bytes is too large for {_a(what)} "
                              f"(at most {limit:,})")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike, *, limit: int | None = None,
                 what: str = "file") -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (see ``open_regular``).

    Reads at most ``limit + 1`` bytes, so a file that grows while it is read is refused too.

    Example:
        >>> import tempfile; f = tempfile.NamedTemporaryFile(delete=False); _ = f.write(b"ok")
        >>> f.close(); read_regular(f.name)
        b'ok'
    """
    with open_regular(path, limit=limit, what=what) as f:
        # ask for the file's size, not the limit: read(n) allocates n bytes up front
        size = os.fstat(f.fileno()).st_size
        first = size + 1 if limit is None else min(size, limit) + 1
        data = f.read(first)
        if len(data) == first:  # it grew while read: the rest, still within the limit
            data += f.read() if limit is None else f.read(max(limit + 1 - len(data), 0))
    if limit is not None and len(data) > limit:
        raise FormatError(path, f"more than {limit:,} bytes is too large for {_a(what)}")
    return data


MAX_IMAGE_BYTES = 1 << 30  # 1 GiB: far above any photo, far below what fills memory


@contextmanager
def open_image(path: str | os.PathLike, *, limit: int = MAX_IMAGE_BYTES
               ) -> Iterator[Image.Image]:
    """A Pillow image of the regular file ``path`` (lazy: the header is read, pixels on
    ``load()``), through :func:`open_regular`: a FIFO or ``/dev/zero`` is refused at once.

    The one way annokit opens an image file by name (checks, thumbnails, crops, scoring).

    Example:
        >>> with open_image("fixtures/images/red_64x48.png") as im:  # doctest: +SKIP
        ...     im.size
        (64, 48)
    """
    from PIL import Image, UnidentifiedImageError

    with open_regular(path, limit=limit, what="image") as f:
        try:
            im = Image.open(f)
        except UnidentifiedImageError:  # Pillow's own words name the descriptor (name=27)
            raise UnidentifiedImageError("cannot identify image file (not an image format "
                                         "Pillow reads)") from None
        with im:
            yield im


def _a(what: str) -> str:
    return f"{'an' if what[:1] in 'aeiou' else 'a'} {what}"


def _open_error(e: OSError, what: str) -> str:
    if e.errno == errno.ELOOP:
        return "a link loop (a symbolic link that points back at itself)"
    if e.errno == errno.ENOENT:
        return f"no such {what}" if what != "file" else "no such file"
    if e.errno == errno.EACCES:
        return "permission denied"
    return e.strerror or str(e)


def shown_text(text: str, file: str | os.PathLike, root: str | os.PathLike,
               limit: int = 60) -> str:
    """``text``, read from ``file``, as an error message may quote it: ``repr``, cut at
    ``limit`` characters; a placeholder when ``file`` resolves outside the dataset folder
    ``root`` (a label file linked to ``/etc/passwd`` must never print its lines).

    Example:
        >>> shown_text("0 0.5 0.5 0.2", "data/labels/a.txt", "data")
        "'0 0.5 0.5 0.2'"
        >>> shown_text("root:x:0:0", "/etc/passwd", "data")
        '(not shown: the file lies outside the dataset)'
    """
    real, base = os.path.realpath(file), os.path.realpath(root)
    if real != base and not _inside(real, base):
        return "(not shown: the file lies outside the dataset)"
    return repr(text if len(text) <= limit else text[:limit] + "...")


# -- reading small config files -------------------------------------------------------

MAX_CONFIG_BYTES = 1_000_000  # a data.yaml or check config is a few KB


def load_yaml(text: str, source: str | os.PathLike) -> object:
    """Parse YAML safely: plain tags only, and no aliases (``*x``: alias bombs expand a
    1 KB file into gigabytes), no deep nesting. Errors name ``source``.

    The one YAML loader annokit uses, for ``data.yaml`` and check configs.

    Example:
        >>> load_yaml("names: [cat, dog]", "data.yaml")
        {'names': ['cat', 'dog']}
    """
    import yaml

    if len(text) > MAX_CONFIG_BYTES:
        raise FormatError(source, f"{len(text)} characters is too large for a YAML config "
                          f"(at most {MAX_CONFIG_BYTES})")
    try:
        return yaml.load(text, Loader=_no_alias_loader())
    except RecursionError:
        raise FormatError(source, "malformed YAML: nested too deeply") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        place = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else None
        problem = str(getattr(e, "problem", None) or e).splitlines()[0]
        raise FormatError(source, f"malformed YAML: {problem}", place=place) from None


_LOADER = None
MAX_YAML_DEPTH = 50


def _no_alias_loader():
    global _LOADER
    if _LOADER is None:
        import yaml

        class NoAliasLoader(yaml.SafeLoader):
            depth = 0

            def compose_node(self, parent, index):
                if self.check_event(yaml.AliasEvent):
                    event = self.peek_event()
                    raise yaml.composer.ComposerError(
                        None, None, "YAML aliases (*name) are refused", event.start_mark)
                self.depth += 1
                try:
                    if self.depth > MAX_YAML_DEPTH:
                        raise yaml.composer.ComposerError(
                            None, None, f"nested deeper than {MAX_YAML_DEPTH} levels",
                            self.peek_event().start_mark)
                    return super().compose_node(parent, index)
                finally:
                    self.depth -= 1

        _LOADER = NoAliasLoader
    return _LOADER
