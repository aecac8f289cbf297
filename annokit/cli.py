"""The ``annokit`` command line: parse, call the library, print. No logic of its own."""
from __future__ import annotations

import atexit
import functools
import math
import os
import signal
import sys
import warnings
from typing import Iterable

import click

from . import fileio, formats, progress
from .errors import AnnokitError, Terminated
from .fileio import IMAGE_MODES, check_output, write_file_atomic
from .notes import Note, Notes
from .formats.target import summary_line as written_summary

MAX_LISTED = 20  # skipped records listed one per line; the rest are counted
INTERRUPTED = "annokit: interrupted"
TERMINATED = "annokit: terminated"


def _stopped(how: str) -> str:
    """The one line an interrupted run prints: what it had already written, if anything."""
    written = fileio.COMMITTED
    if not written:
        return f"{how}; nothing was written"
    more = f" and {len(written) - 1} more" if len(written) > 1 else ""
    return f"{how} after writing {written[-1]}{more}; nothing else was written"


class KernelPath(click.Path):
    """A path as the kernel and the shell resolve it (:func:`fileio.kernel_path`):
    ``link/../x`` names the folder above the link's target, for inputs and outputs alike,
    before any reader or writer sees it; an empty path (an unset shell variable) is refused
    rather than taken for the working folder."""

    def convert(self, value, param, ctx):
        if isinstance(value, str):
            if not value:
                self.fail("an empty path (an unset shell variable?); give a path", param, ctx)
            value = fileio.kernel_path(value)
        return super().convert(value, param, ctx)


class Number(click.ParamType):
    """A finite number in [low, high]: NaN, inf and 1e308 are refused at the option."""

    def __init__(self, kind: type = float, low: float = 0, high: float = 1e9):
        self.kind, self.low, self.high = kind, low, high
        self.name = "integer" if kind is int else "number"

    def convert(self, value, param, ctx):
        shown = repr(value) if len(str(value)) <= 30 else repr(str(value)[:30] + "...")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = value
        else:
            text = str(value).strip()
            try:
                number = int(text) if self.kind is int and len(text) < 20 else float(text)
            except ValueError:
                self.fail(f"{shown} is not {'an integer' if self.kind is int else 'a number'}",
                          param, ctx)
        if not math.isfinite(number) or not self.low <= number <= self.high:
            self.fail(f"{shown} is not a finite number in [{self.low:g}, {self.high:g}]",
                      param, ctx)
        if self.kind is int:
            if number != int(number):
                self.fail(f"{shown} is not an integer", param, ctx)
            return int(number)
        return float(number)


def _os_error(e: OSError) -> str:
    name = e.filename if e.filename is not None else "annokit"
    return f"{os.fsdecode(name) if isinstance(name, bytes) else name}: {e.strerror or e}"


def _common(func):
    """--quiet and --debug on every command, and one-line errors unless --debug."""
    @click.option("--quiet", "-q", is_flag=True, help="No progress bar, no per-record notes.")
    @click.option("--debug", is_flag=True, help="Show the Python traceback on errors.")
    @functools.wraps(func)
    def wrapper(*args, quiet: bool, debug: bool, **kwargs):
        progress.QUIET = quiet
        try:
            return func(*args, quiet=quiet, **kwargs)
        except AnnokitError as e:
            if debug:
                raise
            click.echo(f"annokit: error: {e}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo(_stopped(INTERRUPTED), err=True)
            sys.exit(130)
        except Terminated:
            click.echo(_stopped(TERMINATED), err=True)
            sys.exit(143)
        except BrokenPipeError:  # `annokit info x | head`: the reader left, say nothing
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(141)
        except OSError as e:  # an input that cannot be read, a full disk: one line
            if debug:
                raise
            click.echo(f"annokit: error: {_os_error(e)}", err=True)
            sys.exit(2)
        except Exception as e:  # a bug: still one line, the traceback on request
            if debug:
                raise
            text = (str(e).splitlines() or [""])[0][:200]  # never a page of some input file
            click.echo(f"annokit: internal error: {type(e).__name__}: {text} "
                       "(run again with --debug for the traceback)", err=True)
            sys.exit(3)
    return wrapper


STDOUT = "-"  # --json -: write the JSON to standard output


def _to_stdout(data: bytes) -> None:
    """``data`` and a line break on standard output, for ``--json -`` in pipelines."""
    sys.stdout.flush()
    sys.stdout.buffer.write(data + b"\n")
    sys.stdout.flush()


def _say(notes: Iterable[Note], quiet: bool) -> None:
    """Print every note of ``notes`` this command has not printed yet: the one place notes
    reach the user (skipped records as ``skipped:``, the rest as ``note:``), grouped by
    the layer that said them, MAX_LISTED lines a group and the rest counted."""
    context = click.get_current_context(silent=True)
    said: set[Note] = context.meta.setdefault("annokit.said", set()) if context else set()
    fresh = [n for n in dict.fromkeys(notes) if n not in said]
    said.update(fresh)
    if quiet:
        return
    groups: dict[tuple[str, str], list[str]] = {}
    for note in fresh:
        groups.setdefault((note.source, note.kind), []).append(note.text)
    sources = list(dict.fromkeys(source for source, _ in groups))
    for source, kind in sorted(groups, key=lambda g: (sources.index(g[0]), g[1] == "skipped")):
        texts = groups[source, kind]
        for text in texts[:MAX_LISTED]:  # one line each, whatever a file name holds
            click.echo(f"  {kind}: " + text.replace("\r", "\\r").replace("\n", "\\n"),
                       err=True)
        if len(texts) > MAX_LISTED:
            click.echo(f"  ... and {len(texts) - MAX_LISTED} more", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="annokit")
def main() -> None:
    """annokit: convert, check, split and score image annotation datasets."""


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A library warning is one line on stderr, never a source excerpt."""
    click.echo(f"annokit: warning: {str(message).splitlines()[0]}", err=True)


def _terminate(signum, frame):
    raise Terminated()  # unwinds through the writers' cleanup, like Ctrl-C


def run() -> None:
    """The console entry point: SIGTERM and Ctrl-C anywhere are one line, no temp files.

    Example:
        >>> run()  # doctest: +SKIP
    """
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # from here: KeyboardInterrupt
    warnings.showwarning = _one_line_warning
    for stream in (sys.stdout, sys.stderr):  # a name that is not UTF-8 prints as \udcXX
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        _run()
        code = 0
    except SystemExit as e:
        code = _exit_code(e)
    if code not in (130, 143):  # cleaned up already: leave now, not after worker threads
        atexit._run_exitfuncs()
    _exit_now(code)


def _exit_code(e: SystemExit) -> int:
    if e.code is None or isinstance(e.code, int):
        return e.code or 0
    click.echo(e.code, err=True)  # sys.exit("message"), as Python itself would
    return 1


def _exit_now(code: int) -> None:
    """Exit without the interpreter's teardown, once every output is committed.

    An image worker thread still blocked in a read (a slow disk, a network mount) must not
    hold an interrupted run open, as joining it at exit would; and native thread pools
    (Arrow's) can abort in their static destructors at exit (apache/arrow#34314), which
    turned a clean exit 2 into SIGABRT on CI.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _run() -> None:
    try:
        main.main(standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:  # a bad option or argument: one line too
        if type(e).__name__ == "NoArgsIsHelpError":  # plain `annokit`: the help
            e.show()
            sys.exit(e.exit_code)
        ctx = getattr(e, "ctx", None)  # usage errors carry the command's context
        command = ctx.command_path if ctx else "annokit"
        hint = f" (see {command} --help)" if isinstance(e, click.UsageError) else ""
        click.echo(f"annokit: error: {e.format_message()}{hint}".replace("\n", " "), err=True)
        sys.exit(e.exit_code)
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo(_stopped(INTERRUPTED), err=True)
        sys.exit(130)
    except Terminated:
        click.echo(_stopped(TERMINATED), err=True)
        sys.exit(143)


SOURCE_FORMATS = click.Choice(["auto", *formats.FORMATS])
TARGET_FORMATS = click.Choice(list(formats.FORMATS))


CSV_LAYOUTS = click.Choice(["label", "multilabel", "label_columns", "onehot", "points",
                            "boxes"])
READ_OPTION_NAMES = ("format", "image_root", "voc_one_based", "strict", "csv_layout",
                     "label_delimiter")


def _read_options(func):
    """Every reader option, shared by the commands that read a dataset; the command gets
    them as one dict, ``read``, for :func:`_read`."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        read = {k: kwargs.pop(k) for k in READ_OPTION_NAMES}
        return func(*args, read=read, **kwargs)

    for decorator in reversed([
        click.option("--format", "format", type=SOURCE_FORMATS, default="auto",
                     help="Input format (default: detected)."),
        click.option("--image-root", type=KernelPath(file_okay=False, path_type=str),
                     help="Folder holding the images, used as given."),
        click.option("--voc-one-based", is_flag=True,
                     help="VOC input: coordinates are 1-based inclusive pixel indices."),
        click.option("--strict", is_flag=True, help="Stop at the first broken record."),
        click.option("--csv-layout", type=CSV_LAYOUTS, default=None,
                     help="CSV input: its layout, when the header leaves it open."),
        click.option("--label-delimiter", default=None,
                     help="CSV input: the delimiter of a multi-label column."),
    ]):
        wrapper = decorator(wrapper)
    return wrapper


def _read(dataset: str, quiet: bool, format: str = "auto", **options):
    ds = formats.read(dataset, None if format == "auto" else format, **options)
    _say(ds.notes, quiet)
    return ds


def _parallel_options(func):
    """--workers N / --dask ADDRESS: the image work of the command runs on local processes
    or a Dask cluster (annokit.parallel); same results as in-process."""
    @click.option("--workers", type=Number(int, 1, 1024), default=None,
                  help="Read and featurise images on N local worker processes.")
    @click.option("--dask", "dask_address", default=None, metavar="ADDRESS",
                  help="Run the image work on a running Dask scheduler (tcp://host:8786); "
                       "the workers must reach the image files (docs/parallel.md).")
    @functools.wraps(func)
    def wrapper(*args, workers, dask_address, **kwargs):
        from . import parallel

        with parallel.use(workers=workers, dask=dask_address):
            return func(*args, **kwargs)
    return wrapper


def _write_options(func):
    for decorator in reversed([
        click.option("--to", "to", type=TARGET_FORMATS, default=None,
                     help="Output format (default: the input's)."),
        click.option("--images", type=click.Choice(IMAGE_MODES), default=None,
                     help="Copy, link or leave the image files (default: link for YOLO)."),
        click.option("--overwrite", is_flag=True, help="Replace a non-empty OUTPUT."),
    ]):
        func = decorator(func)
    return func


CLASS_OPTION_NAMES = ("map_classes", "keep_classes", "drop_classes")


def _class_options(func):
    """--map-classes, --keep-classes, --drop-classes on every command that writes; the
    command gets them as one dict, ``classes``, for :func:`_edit_classes`."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        classes = {k: kwargs.pop(k) for k in CLASS_OPTION_NAMES}
        return func(*args, classes=classes, **kwargs)

    for decorator in reversed([
        click.option("--map-classes", default=None, metavar="FILE|OLD=NEW,...",
                     help="Rename classes (several into one too): 'old=new,old2=new' or a "
                          ".yaml/.json/.csv map file."),
        click.option("--keep-classes", default=None, metavar="NAME,...",
                     help="Keep only these classes (after --map-classes)."),
        click.option("--drop-classes", default=None, metavar="NAME,...",
                     help="Drop these classes and their annotations (after --map-classes)."),
    ]):
        wrapper = decorator(wrapper)
    return wrapper


def _edit_classes(ds, classes: dict):
    """``ds`` with the class options applied (nothing when none was given)."""
    if not any(classes.values()):
        return ds
    from .edit import apply_class_options

    return apply_class_options(ds, **classes)


def _write(ds, output, to: str | None, dataset, quiet: bool,
           voc_one_based: bool = False, **options) -> tuple[str, str]:
    """Write ``ds`` at ``output``, never over ``dataset`` (one input path or several);
    return the format and a summary of what was written. Once written (a refused output
    is one line), what every layer said of ``ds`` and then the writer's notes are
    printed, each once (k folds written one by one say a note once)."""
    fmt = to or ds.meta["source_format"]
    if voc_one_based and fmt == "voc":  # VOC read 1-based is written back 1-based
        options["voc_one_based"] = True
    inputs = dataset if isinstance(dataset, tuple) else (dataset,)
    notes = formats.write(ds, output, fmt, protect=inputs, **options)
    _say([*ds.notes, *notes], quiet)
    return fmt, written_summary(ds, notes)


def _floats(text: str, name: str) -> list[float]:
    try:
        numbers = [float(part) for part in text.split(",")]
    except ValueError:
        numbers = [math.nan]
    if not all(math.isfinite(n) and 0 <= n <= 1e9 for n in numbers):
        raise AnnokitError(f"--{name} must be numbers in [0, 1e9] separated by commas, "
                           f"not {text!r}")
    return numbers


@main.command()
@click.argument("src_format", type=SOURCE_FORMATS)
@click.argument("dst_format", type=TARGET_FORMATS)
@click.argument("input", type=KernelPath(path_type=str))
@click.argument("output", type=KernelPath(path_type=str))
@click.option("--image-root", type=KernelPath(file_okay=False, path_type=str),
              help="Folder holding the images, when they are not where the format expects.")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty OUTPUT.")
@click.option("--strict", is_flag=True, help="Stop at the first broken record instead of "
                                              "skipping it.")
@click.option("--images", type=click.Choice(IMAGE_MODES), default=None,
              help="Copy, link (hard link, else symlink) or leave the image files. "
                   "Default: link for YOLO, none otherwise.")
@click.option("--voc-one-based", is_flag=True,
              help="VOC coordinates are 1-based inclusive pixel indices (official VOC sets).")
@click.option("--yolo-task", type=click.Choice(["detect", "segment"]), default=None,
              help="Write YOLO boxes or polygons (default: as the input had them).")
@click.option("--csv-layout", type=CSV_LAYOUTS, default=None,
              help="csv input or target: its layout (default: from the header, or the data).")
@click.option("--label-delimiter", default=None,
              help="csv: the delimiter of a multi-label column (default: | then ; then ,).")
@click.option("--crops", is_flag=True,
              help="imagefolder target: one cropped image per box, in its class folder.")
@click.option("--crop-padding", type=Number(float, 0, 10), default=0.0, show_default=True,
              help="Crops: padding on each side, as a fraction of the box size.")
@click.option("--crop-min-size", type=Number(float, 0, 1e6), default=1.0, show_default=True,
              help="Crops: boxes with a side below this many pixels are skipped.")
@_class_options
@_common
def convert(src_format: str, dst_format: str, input: str, output: str, quiet: bool,
            classes: dict, **options) -> None:
    """Convert INPUT from SRC_FORMAT to DST_FORMAT, written at OUTPUT.

    \b
    Examples:
      annokit convert voc coco data/VOC2012 out/coco --voc-one-based
      annokit convert coco yolo instances_val.json out/yolo --image-root val2017
      annokit convert auto voc data/yolo out/voc --images copy
    """
    if options["crops"] and dst_format != "imagefolder":
        raise AnnokitError("--crops writes a folder per class: use it with the imagefolder "
                           "target")
    src = None if src_format == "auto" else src_format
    ds, notes = formats.convert(input, output, src, dst_format, **options,
                                transform=lambda ds: _edit_classes(ds, classes))
    _say([*ds.notes, *notes], quiet)
    source = ds.meta.get("source_format", src_format)
    line = f"{source} -> {dst_format}: {written_summary(ds, notes)} written to {output}"
    if notes:
        line += f"; {len(notes)} note{'s' * (len(notes) > 1)} on what was not written"
    click.echo(line)


@main.command()
@click.argument("dataset", type=KernelPath(path_type=str))
@_read_options
@_common
def info(dataset: str, read: dict, quiet: bool) -> None:
    """Summarise DATASET: counts per category and per split."""
    ds = _read(dataset, quiet, **read)
    click.echo(repr(ds))
    click.echo(ds.summary().to_string())


def _threshold_options(func):
    """One --option per Thresholds field, so every number is settable from the CLI."""
    from dataclasses import fields

    from .checks import Thresholds, threshold_range
    from .checks.registry import THRESHOLD_HELP

    for f in reversed(fields(Thresholds)):
        kind = Number(int if f.type == "int" else float, *threshold_range(f.name))
        words = THRESHOLD_HELP[f.name].rstrip(".")
        func = click.option(f"--{f.name.replace('_', '-')}", f.name, type=kind, default=None,
                            help=f"{words} (default {f.default}).")(func)
    return func


FAIL_LEVELS = ("error", "warning", "never")


@main.command()
@click.argument("dataset", type=KernelPath(path_type=str))
@_read_options
@click.option("--config", type=KernelPath(dir_okay=False, path_type=str),
              help="TOML or YAML file with thresholds, severities, skips and fail_on.")
@click.option("--fail-on", type=click.Choice(FAIL_LEVELS), default=None,
              help="Exit 1 when findings at or above this severity exist (default: error).")
@click.option("--json", "json_out", type=KernelPath(path_type=str),
              help="Write the JSON report (- for standard output; the table goes to stderr).")
@click.option("--html", "html_out", type=KernelPath(path_type=str), help="Write the HTML report.")
@click.option("--skip", multiple=True, help="Leave out a check id or prefix (repeatable).")
@click.option("--no-images", is_flag=True, help="Do not open image files (faster).")
@click.option("--overwrite", is_flag=True, hidden=True,
              help="Accepted for old scripts: report files are always replaced.")
@click.option("--score", "run_score", is_flag=True,
              help="Also score every annotation (annokit score) and add the likely "
                   "annotation errors to the reports.")
@click.option("--score-model", type=click.Choice(["classic", "cnn", "pretrained"]),
              default=None, help="With --score: the model family (default: as annokit score).")
@_threshold_options
@_common
@_parallel_options
def check(dataset: str, read: dict, config, fail_on, json_out, html_out, skip, no_images: bool,
          overwrite: bool, run_score: bool, score_model: str, quiet: bool,
          **thresholds) -> None:
    """Check DATASET for annotation problems; exit 1 when findings reach --fail-on.

    \b
    Examples:
      annokit check data/voc --html qc.html --json qc.json
      annokit check data/coco/annotations.json --fail-on warning --min-box-area 36
      annokit check data/voc --score --html qc.html
    """
    import orjson

    from . import checks
    from .report import report, scores_summary, summary_table, to_json_dict

    settings = checks.load_config(config) if config else {}
    limits = dict(settings.get("thresholds") or {})
    limits.update({k: v for k, v in thresholds.items() if v is not None})
    fail_on = fail_on or settings.get("fail_on", "error")
    if fail_on not in FAIL_LEVELS:
        raise AnnokitError(f"{config}: fail_on must be one of {', '.join(FAIL_LEVELS)}")
    inputs = (dataset, read.get("image_root"), config)
    if html_out == STDOUT:
        raise AnnokitError("--html -: the HTML report needs a file name (--json - writes the "
                           "JSON report to standard output)")
    for out in (json_out, html_out):  # refuse a bad report path before the work
        if out and out != STDOUT:
            check_output(out, inputs, overwrite=True, report=True)
    ds = _read(dataset, quiet, **read)
    found = checks.check(ds, skip=[*settings.get("skip", []), *skip], images=not no_images,
                         severity=settings.get("severity"), **limits)
    scores = _score(ds, score_model, quiet) if run_score else None
    for out in (json_out, html_out):
        if out and out != STDOUT:
            report(ds, found, out, protect=inputs, scores=scores)
    piped = json_out == STDOUT  # the JSON alone on stdout; the table goes to stderr
    click.echo(summary_table(ds, found), err=piped)
    if scores is not None:
        click.echo(scores_summary(ds, scores), err=piped)
    if piped:
        _to_stdout(orjson.dumps(to_json_dict(ds, found, scores), option=orjson.OPT_INDENT_2))
    levels = checks.SEVERITIES[: checks.SEVERITIES.index(fail_on) + 1] \
        if fail_on != "never" else ()
    failing = found["severity"].isin(levels).sum()
    if failing:
        click.echo(f"{failing} findings at or above '{fail_on}': failing", err=True)
        sys.exit(1)


def _score(ds, model: str, quiet: bool):
    """annokit.score on ``ds`` for check --score (imported only when asked for)."""
    try:
        from .score import score
    except ImportError as e:
        raise AnnokitError(f"--score needs annokit.score, which this installation cannot "
                           f"import ({e}); run check without --score") from None
    scores = score(ds, model=model)
    _say(scores.notes, quiet)
    return scores


@main.command(name="split")
@click.argument("dataset", type=KernelPath(path_type=str))
@click.argument("output", type=KernelPath(path_type=str))
@click.option("--ratios", default="0.8,0.1,0.1", show_default=True,
              help="Shares of the splits, comma-separated, summing to 1.")
@click.option("--names", default="train,val,test", show_default=True,
              help="Split names, one per ratio.")
@click.option("--method", type=click.Choice(["auto", "random", "stratified", "multilabel"]),
              default="auto", show_default=True,
              help="auto: multi-label stratified for detection, stratified for single labels.")
@click.option("--seed", type=Number(int, 0, 2**32 - 1), default=0, show_default=True)
@click.option("--group-by", default=None,
              help="Image column, or a regex on file names whose first group is the group "
                   "(e.g. '^(video\\d+)_'): no group spans two splits.")
@click.option("--near-duplicates/--no-near-duplicates", default=True, show_default=True,
              help="Keep near-duplicate images (perceptual hash) in one split.")
@click.option("--phash-distance", type=Number(int, 0, 64), default=4, show_default=True)
@click.option("--keep-existing", is_flag=True,
              help="Keep current splits; assign only images without one.")
@click.option("--folds", type=Number(int, 2, 1000), default=None,
              help="K-fold: write OUTPUT/fold_<i>, each with train and val.")
@_read_options
@_write_options
@_class_options
@_common
@_parallel_options
def split_command(dataset: str, output: str, ratios: str, names: str, method: str, seed: int,
                  group_by, near_duplicates: bool, phash_distance: int, keep_existing: bool,
                  folds, read: dict, to, images, overwrite: bool, quiet: bool,
                  classes: dict) -> None:
    """Split DATASET into train/val/test (or K folds), written at OUTPUT.

    \b
    Examples:
      annokit split data/voc out/voc-split --ratios 0.8,0.1,0.1
      annokit split data/coco out/yolo --to yolo --group-by '^(video\\d+)_'
      annokit split data/yolo out/folds --folds 5
    """

    from . import split as splitting
    from .fileio import atomic_output

    ds = _edit_classes(_read(dataset, quiet, **read), classes)
    write = dict(to=to, dataset=dataset, quiet=quiet, images=images, overwrite=overwrite,
                 voc_one_based=read["voc_one_based"])
    grouping = dict(seed=seed, group_by=group_by, near_duplicates=near_duplicates,
                    phash_distance=phash_distance, method=method)
    if folds is not None:
        result = splitting.kfold(ds, folds, **grouping)
        _say(result.notes, quiet)
        with atomic_output(output, overwrite=overwrite, protect=(dataset,)) as tmp:
            for i, part in enumerate(splitting.fold_splits(result)):
                _write(part, tmp / f"fold_{i}", **{**write, "overwrite": False})
        click.echo(splitting.format_split_table(splitting.fold_table(result)))
        click.echo(f"{folds} folds written to {output}/fold_0..{folds - 1} (fold <i> "
                   "is fold_<i>'s val split, the other folds its train split)")
        return
    result = splitting.split(ds, _floats(ratios, "ratios"), names=names.split(","),
                             keep_existing=keep_existing, **grouping)
    _say(result.notes, quiet)
    fmt, written = _write(result, output, **write)
    click.echo(splitting.format_split_table(splitting.split_table(result)))
    click.echo(f"{written} split and written as {fmt} to {output}")


@main.command(name="rebalance")
@click.argument("dataset", type=KernelPath(path_type=str))
@click.argument("output", type=KernelPath(path_type=str))
@click.option("--method", type=click.Choice(["repeat", "oversample", "undersample"]),
              default="repeat", show_default=True,
              help="repeat: LVIS repeat-factor sampling; or over/undersample at image level.")
@click.option("--threshold", type=Number(float, 0, 1), default=0.001, show_default=True,
              help="LVIS repeat-factor threshold t.")
@click.option("--target", type=Number(int, 1, 10_000_000), default=None,
              help="oversample: instances per class (default: the largest class).")
@click.option("--cap", type=Number(int, 1, 10**9), default=None,
              help="undersample: most instances per class.")
@click.option("--keep-rare-images/--drop-rare-images", "protect_rare", default=True,
              show_default=True, help="undersample: never drop an image holding a rare class.")
@click.option("--only-split", default=None, help="Resample this split only (e.g. train).")
@click.option("--seed", type=Number(int, 0, 2**32 - 1), default=0, show_default=True)
@_read_options
@_write_options
@_class_options
@_common
def rebalance_command(dataset: str, output: str, method: str, threshold: float, target, cap,
                      protect_rare: bool, only_split, seed: int, read: dict, to, images,
                      overwrite: bool,
                      quiet: bool, classes: dict) -> None:
    """Resample DATASET so rare classes weigh more; write it (or an image list) at OUTPUT.

    OUTPUT ending in .txt gets the image list with repeats (one path per line, as
    Ultralytics and Detectron2 train lists); otherwise a dataset. VOC and YOLO name label
    files after images, so they cannot hold repeated images: use COCO or a .txt list.

    \b
    Examples:
      annokit rebalance data/coco out/coco-rfs --threshold 0.01
      annokit rebalance data/yolo out/train-list.txt --method oversample --only-split train
    """
    from . import rebalance as rebalancing

    ds = _edit_classes(_read(dataset, quiet, **read), classes)
    out, table = rebalancing.rebalance(ds, method, seed=seed, threshold=threshold,
                                       target=target, cap=cap, protect_rare=protect_rare,
                                       only_split=only_split)
    if output.lower().endswith(".txt"):
        listed = rebalancing.image_list(out, split=only_split)
        write_file_atomic(output, "".join(p + "\n" for p in listed),
                          protect=(dataset, read["image_root"]))
        fmt = "image list"
    else:
        fmt = to or ds.meta["source_format"]
        if fmt != "coco" and out.images["file_name"].duplicated().any():
            raise AnnokitError(f"{output}: {fmt} cannot hold repeated images; write COCO "
                               "(--to coco) or an image list (OUTPUT ending in .txt)")
        _write(out, output, to=fmt, dataset=dataset, quiet=quiet, images=images,
               overwrite=overwrite, voc_one_based=read["voc_one_based"])
    # after the write: a refused output is one line, nothing else
    _say(out.notes, quiet)
    click.echo(rebalancing.format_rebalance_table(table))
    # count what was written: an image list of --only-split holds that split alone
    one_split = only_split if fmt == "image list" else None
    (images, anns), (images_out, anns_out) = (rebalancing.counted(d, one_split)
                                              for d in (ds, out))
    where = f"{only_split}: " if one_split else ""
    kept = "; other splits kept as they were" if only_split and not one_split else ""
    click.echo(f"{where}{images} -> {images_out} images, {anns} -> {anns_out} annotations, "
               f"written as {fmt} to {output}{kept}")


def _sizes(values: tuple[str, ...], option: str = "size"):
    """--size W,H (every class) or --size CLASS=W,H (repeatable) as points.Size."""
    if not values:
        return None
    per_class = {}
    for value in values:
        name, _, numbers = value.rpartition("=")
        given = _floats(numbers, option)
        if len(given) not in (1, 2) or (option == "point-size" and min(given) <= 0):
            raise AnnokitError(f"--{option} must be W,H or CLASS=W,H, not {value!r}")
        size = (given[0], given[-1])
        if not name:
            return size
        per_class[name] = size
    return per_class


@main.group()
def points() -> None:
    """Centre points: boxes to points and back."""


@points.command(name="to-points")
@click.argument("dataset", type=KernelPath(path_type=str))
@click.argument("output", type=KernelPath(path_type=str))
@_read_options
@_write_options
@_common
def to_points(dataset: str, output: str, read: dict, to, quiet: bool, images,
              overwrite) -> None:
    """Turn every box of DATASET into a point at its centre, written at OUTPUT.

    \b
    Example:
      annokit points to-points data/voc out/points.csv --to csv
    """
    from . import points as centre_points

    ds = _read(dataset, quiet, **read)
    out = centre_points.boxes_to_points(ds)
    fmt, written = _write(out, output, to=to, dataset=dataset, quiet=quiet, images=images,
                          overwrite=overwrite)
    click.echo(f"{written}: boxes as centre points, written as {fmt} to {output}")


@points.command(name="to-boxes")
@click.argument("dataset", type=KernelPath(path_type=str))
@click.argument("output", type=KernelPath(path_type=str))
@click.option("--size", multiple=True,
              help="Box size W,H for every class, or CLASS=W,H (repeatable). Default: each "
                   "class's median box size, learned from the boxes in DATASET or --reference.")
@click.option("--reference", type=KernelPath(path_type=str),
              help="A dataset with boxes to learn the per-class sizes from.")
@_read_options
@_write_options
@_common
def to_boxes(dataset: str, output: str, size, reference, read: dict, to, quiet: bool,
             images, overwrite) -> None:
    """Turn every point of DATASET into a box of its class's size, written at OUTPUT.

    \b
    Examples:
      annokit points to-boxes counts.csv out/coco --to coco --size 24,24
      annokit points to-boxes counts.csv out/coco --to coco --reference data/voc
    """
    from . import points as centre_points

    ds = _read(dataset, quiet, **read)
    ref = _read(reference, quiet) if reference else None
    out = centre_points.points_to_boxes(ds, _sizes(size), reference=ref)
    fmt, written = _write(out, output, to=to, dataset=(dataset, reference), quiet=quiet,
                          images=images, overwrite=overwrite)
    click.echo(f"{written}: points as boxes, written as {fmt} to {output}")


def _point_options(func):
    """Options of the centre-point metrics (``eval --task points``, ``evaluate points``)."""
    for decorator in reversed([
        click.option("--mode", type=click.Choice(["box", "distance"]), default="box",
                     show_default=True,
                     help="points: box: a point inside a ground-truth box matches it; "
                          "distance: within --distance x the object's size of its centre."),
        click.option("--distance", type=Number(float, 0, 1e6), default=0.5, show_default=True,
                     help="points: the match radius as a share of the object's size."),
        click.option("--max-distance", type=Number(float, 0, 1e9), default=None,
                     help="points: pixels, for ground-truth points with no known size."),
        click.option("--size", multiple=True,
                     help="points: ground-truth point size W,H or CLASS=W,H."),
        click.option("--score-threshold", type=Number(float, -1e9, 1e9), default=None,
                     help="points: drop predictions scored below this."),
        click.option("--any-class", is_flag=True, help="points: match regardless of class."),
    ]):
        func = decorator(func)
    return func


def _evaluate(ground_truth: str, predictions: str, task, json_out, quiet: bool, *,
              read: dict, mode: str, distance: float, max_distance, size, score_threshold,
              any_class: bool, **options) -> None:
    """Read both sides, evaluate, print the table and notes, write --json."""
    import orjson

    from . import evaluate as evaluation

    if json_out and json_out != STDOUT:  # a bad --json path is refused before the work
        check_output(json_out, (ground_truth, predictions), overwrite=True, report=True)
    gt, pred = evaluation.read_pair(ground_truth, predictions, **read)
    _say(gt.notes, quiet)
    _say(pred.notes, quiet)
    metrics = evaluation.evaluate(
        gt, pred, task, mode=mode, distance=distance, max_distance=max_distance,
        size=_sizes(size), score_threshold=score_threshold, classwise=not any_class, **options)
    _say(metrics["notes"], quiet)
    click.echo(evaluation.format_metrics(metrics), err=json_out == STDOUT)
    if json_out:
        data = orjson.dumps(evaluation.to_plain(metrics), option=orjson.OPT_INDENT_2)
        if json_out == STDOUT:  # the JSON alone on stdout; the table went to stderr
            _to_stdout(data)
        else:
            write_file_atomic(json_out, data + b"\n", protect=(ground_truth, predictions))


@main.command(name="eval")
@click.argument("ground_truth", type=KernelPath(path_type=str))
@click.argument("predictions", type=KernelPath(path_type=str))
@click.option("--task", type=click.Choice(["detection", "classification", "points"]),
              default=None, help="Default: classification for image labels, points for "
                                 "points, else detection.")
@click.option("--iou-type", type=click.Choice(["bbox", "segm"]), default="bbox",
              show_default=True, help="detection: boxes or masks.")
@click.option("--engine", type=click.Choice(["faster-coco-eval", "pycocotools"]), default=None,
              help="detection: COCOeval implementation (default: faster-coco-eval when "
                   "installed; the same numbers).")
@click.option("--threshold", type=Number(float, 0, 1), default=0.5, show_default=True,
              help="classification, multi-label: predicted labels scored below are left out.")
@click.option("--pred-format", type=SOURCE_FORMATS, default="auto",
              help="Format of PREDICTIONS (default: detected; a COCO results list is read "
                   "on the ground truth's ids).")
@click.option("--json", "json_out", type=KernelPath(path_type=str),
              help="Write the metrics as JSON (for pipelines; - for standard output).")
@_point_options
@_read_options
@_common
def eval_command(ground_truth: str, predictions: str, task, iou_type: str, engine,
                 threshold: float, pred_format: str, json_out, read: dict, quiet: bool,
                 **point_options) -> None:
    """Evaluate PREDICTIONS against GROUND_TRUTH: mAP, classification or point metrics.

    \b
    Examples:
      annokit eval data/coco/annotations/instances_val.json detections.json
      annokit eval data/coco/annotations/instances_val.json masks.json --iou-type segm
      annokit eval data/yolo runs/predict --task detection --pred-format yolo
      annokit eval labels.csv predicted.csv --task classification
    """
    read = dict(read, format=None if read["format"] == "auto" else read["format"],
                pred_format=None if pred_format == "auto" else pred_format)
    _evaluate(ground_truth, predictions, task, json_out, quiet, read=read, iou_type=iou_type,
              engine=engine, threshold=threshold, **point_options)


@main.group()
def evaluate() -> None:
    """Score predictions against ground truth (see also: annokit eval)."""


@evaluate.command(name="points")
@click.argument("ground_truth", type=KernelPath(path_type=str))
@click.argument("predictions", type=KernelPath(path_type=str))
@_point_options
@click.option("--json", "json_out", type=KernelPath(path_type=str),
              help="Write the metrics (and per-class figures) as JSON (- for standard "
                   "output).")
@click.option("--format", "format", type=SOURCE_FORMATS, default="auto",
              help="Format of PREDICTIONS (default: detected).")
@_common
def evaluate_points(ground_truth: str, predictions: str, json_out, format: str, quiet: bool,
                    **point_options) -> None:
    """Precision, recall, F1 and counting error of predicted points against GROUND_TRUTH
    (the same as: annokit eval GROUND_TRUTH PREDICTIONS --task points; ground truth first,
    as everywhere).

    \b
    Example:
      annokit evaluate points data/voc predictions.csv --mode box
    """
    read = dict(pred_format=None if format == "auto" else format)
    _evaluate(ground_truth, predictions, "points", json_out, quiet, read=read,
              **point_options)


# -- FiftyOne: browse what annokit flagged, bring the fixes back ---------------------------

@main.command()
@click.argument("dataset", type=KernelPath(path_type=str))
@click.option("--predictions", type=KernelPath(path_type=str),
              help="A dataset of predicted boxes (any format; score -> confidence).")
@click.option("--scores", type=KernelPath(dir_okay=False, path_type=str),
              help="What 'annokit score --out' wrote (.json, .csv or .parquet): per-object "
                   "quality and issue.")
@click.option("--name", default=None, help="FiftyOne dataset name (default: annokit-<folder>).")
@click.option("--port", type=click.IntRange(1, 65535), default=5151, show_default=True,
              help="App port.")
@click.option("--address", default="localhost", show_default=True,
              help="Address the App server listens on.")
@click.option("--no-launch", is_flag=True, help="Only build the FiftyOne dataset.")
@click.option("--no-images", is_flag=True, help="Skip the checks that open image files.")
@click.option("--overwrite", is_flag=True, help="Rebuild the FiftyOne dataset if it exists.")
@_read_options
@_common
def browse(dataset: str, predictions, scores, name, port: int, address: str, no_launch: bool,
           no_images: bool, overwrite: bool, read: dict, quiet: bool) -> None:
    """Build a FiftyOne dataset from DATASET with every finding as a tag, and open the App.

    \b
    Examples:
      annokit browse data/bccd/BCCD --no-launch
      annokit browse data/coco/annotations.json --scores scores.json --port 5152
    """
    from . import checks
    from .integrations import fiftyone as fo_bridge

    name = name or fo_bridge.default_name(dataset)
    fo_bridge.check_name(name, overwrite)  # before the slow part
    ds = _read(dataset, quiet, **read)
    pred = _read(predictions, quiet) if predictions else None
    found = checks.check(ds, images=not no_images)
    fo_ds = fo_bridge.to_fiftyone(ds, name, predictions=pred, findings=found, scores=scores,
                                  overwrite=overwrite)
    _say(Notes.from_json(fo_ds.info["annokit"]["notes"]), quiet)
    click.echo(f"FiftyOne dataset {name!r}: {fo_bridge.summary_line(fo_ds)}, "
               f"{len(found)} findings; views: {', '.join(fo_ds.list_saved_views())}")
    if no_launch:
        return
    exposed = fo_bridge.exposure_warning(address)
    if exposed:
        click.echo(f"annokit: warning: {exposed}", err=True)
    try:
        fo_bridge.serve(fo_ds, port=port, address=address,
                        ready=lambda url: click.echo(f"FiftyOne App: {url} (Ctrl-C to stop)"))
    except KeyboardInterrupt:
        click.echo(f"annokit: interrupted; App stopped, FiftyOne dataset {name!r} kept", err=True)
        sys.exit(130)
    except Terminated:
        click.echo(f"annokit: terminated; App stopped, FiftyOne dataset {name!r} kept", err=True)
        sys.exit(143)


@main.command(name="fiftyone-export")
@click.argument("name")
@click.argument("output", type=KernelPath(path_type=str))
@click.option("--format", "to", type=TARGET_FORMATS, required=True,
              help="Output format (csv or imagefolder for image labels).")
@click.option("--images", type=click.Choice(IMAGE_MODES), default=None,
              help="Copy, link or leave the image files (default: link for YOLO).")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty OUTPUT.")
@click.option("--voc-one-based", is_flag=True, help="Write 1-based VOC pixel indices.")
@click.option("--label-field", default="ground_truth", show_default=True,
              help="The Detections field to export.")
@_common
def fiftyone_export(name: str, output: str, to: str, images, overwrite: bool,
                    voc_one_based: bool, label_field: str, quiet: bool) -> None:
    """Write the FiftyOne dataset NAME (as edited in the App) at OUTPUT in --format.

    \b
    Example:
      annokit fiftyone-export annokit-BCCD out/bccd-fixed --format coco
    """
    from .integrations import fiftyone as fo_bridge

    fo_ds = fo_bridge.load(name)
    protect = fo_bridge.protected_paths(fo_ds)  # what it was built from, whatever built it
    check_output(output, protect, overwrite=overwrite)  # before reading it all
    ds = fo_bridge.from_fiftyone(fo_ds, label_field=label_field)
    _say(ds.notes, quiet)
    notes = formats.write(ds, output, to, overwrite=overwrite, images=images,
                          protect=protect, voc_one_based=voc_one_based)
    _say(notes, quiet)
    reviewed = int(ds.images["reviewed"].sum()) if "reviewed" in ds.images else 0
    click.echo(f"FiftyOne {name!r} -> {to}: {ds.summary_line()}, {reviewed} images reviewed, "
               f"written to {output}")


# -- score: likely annotation errors first ---------------------------------------------

@main.command(name="score")
@click.argument("dataset", type=KernelPath(path_type=str))
@_read_options
@click.option("--task", type=click.Choice(["classification", "detection"]), default=None,
              help="Default: detection when the dataset has boxes or points.")
@click.option("--point-size", multiple=True,
              help="Points are judged as boxes of their objects' size: W,H for every class, "
                   "or CLASS=W,H (repeatable). Default: the distance between neighbouring "
                   "points.")
@click.option("--model", type=click.Choice(["classic", "cnn", "pretrained", "centres"]),
              default=None,
              help="classic: HOG + colour features, scikit-learn; pretrained: the same "
                   "heads with EfficientNet-Lite0 features; cnn: small CNNs from scratch; "
                   "centres: a detector of linear heads on Lite0 feature maps (the last "
                   "three: pip install annokit[torch]). Default: what measured best per "
                   "task (boxes: classic, overlooked objects: centres, when installed; "
                   "image labels: pretrained when installed).")
@click.option("--backbone", default=None,
              help="With pretrained: 'lite0' (packaged), an .onnx feature-map model, or a "
                   "timm model name (needs timm and its weights).")
@click.option("--predictions", type=KernelPath(path_type=str), default=None,
              help="Your detector's output (COCO results JSON, or YOLO labels with a "
                   "confidence column): scores against it, trains nothing.")
@click.option("--weights", type=KernelPath(path_type=str), default=None,
              help="Local torchvision/timm state dict or ONNX file whose embeddings the CNN "
                   "classifier uses (nothing is downloaded).")
@click.option("--folds", type=Number(int, 2, 100), default=5, show_default=True,
              help="Folds: each image is judged by a model trained without it.")
@click.option("--seed", type=Number(int, 0, 2**32 - 1), default=0, show_default=True)
@click.option("--iterations", type=Number(int, 1, 10**7), default=None,
              help="CNN training iterations per fold (default: the model's own).")
@click.option("--top", type=Number(int, 0, 10**6), default=15, show_default=True,
              help="Rows of the worst-annotations table printed.")
@click.option("--out", type=KernelPath(path_type=str), default=None,
              help="Write the scores: .json (COCO with scores), .csv or .parquet.")
@_common
@_parallel_options
def score_command(dataset: str, read: dict, quiet: bool, task, point_size, model, backbone,
                  predictions, weights, folds: int, seed: int, iterations, top: int,
                  out) -> None:
    """Score every annotation of DATASET; likely label errors first.

    \b
    Example:
      annokit score ../shared/datasets/bccd/BCCD --out scores.json
    """
    from .score import format_worst, score, write_scores

    inputs = tuple(p for p in (dataset, predictions, weights, read["image_root"]) if p)
    if out:  # a bad --out path is refused before the work
        check_output(out, inputs, overwrite=True, report=True)
    sizes = _sizes(point_size, "point-size")
    ds = _read(dataset, quiet, **read)
    result = score(ds, task=task, model=model, predictions=predictions, folds=folds, seed=seed,
                   weights=weights, iterations=iterations, backbone=backbone,
                   point_size=sizes)
    _say(result.notes, quiet)
    click.echo(format_worst(ds, result, top))
    if out:
        write_scores(ds, result, out, overwrite=True, protect=inputs)
        if not quiet:
            click.echo(f"scores written to {out}", err=True)


# -- edit, merge, apply, diff: change a dataset in a pipeline ------------------------------

class SampleSize(click.ParamType):
    """--sample N (images) or FRACTION (0 < f < 1)."""

    name = "N|FRACTION"

    def convert(self, value, param, ctx):
        number = Number(float, 0, 1e12).convert(value, param, ctx)
        if number <= 0 or (number >= 1 and number != int(number)):
            self.fail(f"{value!r} is neither a count of images (1, 2, ...) nor a fraction "
                      "in (0, 1)", param, ctx)
        return number


@main.command(name="edit")
@click.argument("dataset", type=KernelPath(path_type=str))
@click.argument("output", type=KernelPath(path_type=str))
@click.option("--where", "where", multiple=True, metavar="EXPR",
              help="Keep what EXPR holds for (repeatable, all must hold): annotation "
                   "columns ('w * h >= 36', 'category == \"car\"') filter annotations, image "
                   "columns ('split == \"train\"', 'width >= 640') whole images.")
@click.option("--drop-empty-images", is_flag=True,
              help="Leave out images without annotations (after the other edits).")
@click.option("--sample", type=SampleSize(), default=None,
              help="Keep a random sample of N images, or of that FRACTION of them.")
@click.option("--seed", type=Number(int, 0, 2**32 - 1), default=0, show_default=True,
              help="--sample: the random seed.")
@_read_options
@_write_options
@_class_options
@_common
def edit_command(dataset: str, output: str, where, drop_empty_images: bool, sample, seed: int,
                 read: dict, to, images, overwrite: bool, quiet: bool, classes: dict) -> None:
    """Edit DATASET (classes, filters, a sample) and write it at OUTPUT.

    Class options run first, then every --where, then --drop-empty-images, then --sample.

    \b
    Examples:
      annokit edit data/voc out/voc --map-classes RBC=red_blood_cell --drop-classes Platelets
      annokit edit data/coco out/coco --where 'w * h >= 36' --where 'split == "train"'
      annokit edit data/yolo out/small --sample 0.1 --seed 1 --drop-empty-images
    """
    from . import edit

    for expr in where:  # a bad expression is refused before the reading
        edit.where_parse(expr)
    ds = _read(dataset, quiet, **read)
    out = _edit_classes(ds, classes)
    for expr in where:
        out = edit.where(out, expr)
    if drop_empty_images:
        out = edit.drop_empty_images(out)
    if sample is not None:
        out = edit.sample_images(out, sample, seed=seed)
    fmt, written = _write(out, output, to=to, dataset=(dataset, read["image_root"]),
                          quiet=quiet, images=images, overwrite=overwrite,
                          voc_one_based=read["voc_one_based"])
    click.echo(f"{len(ds)} -> {len(out)} images, {len(ds.annotations)} -> "
               f"{len(out.annotations)} annotations, {len(ds.categories)} -> "
               f"{len(out.categories)} classes; {written} written as {fmt} to {output}")


@main.command(name="merge")
@click.argument("paths", nargs=-1, required=True, type=KernelPath(path_type=str),
                metavar="A B [C...] OUTPUT")
@click.option("--fold-names", is_flag=True,
              help="Join class names that differ only in case, spaces, '_' or '-' "
                   "(each join is reported).")
@click.option("--strict", is_flag=True, help="Stop at the first broken record.")
@_write_options
@_class_options
@_common
def merge_command(paths: tuple, fold_names: bool, strict: bool, to, images, overwrite: bool,
                  quiet: bool, classes: dict) -> None:
    """Merge datasets A B [C...] into one, written at OUTPUT.

    Classes are joined by name, ids renumbered without collisions, splits kept; an image
    in two inputs (same name and bytes) gets both sets of annotations, exact duplicates
    dropped; a name clash with other bytes is renamed. A 'source' column on the
    annotations names the input each came from. Class options apply to the merged dataset.

    \b
    Examples:
      annokit merge data/bccd-a data/bccd-b out/bccd --fold-names
      annokit merge a.json b.json c.json out/all.json --to coco
    """
    from . import edit

    if len(paths) < 3:
        raise AnnokitError(f"merge needs at least two datasets and an OUTPUT, got "
                           f"{len(paths)} path{'s' * (len(paths) != 1)}")
    *inputs, output = paths
    _refuse_repeated(inputs)
    check_output(output, tuple(inputs), overwrite=overwrite)  # before the reading
    read = [_read(p, quiet, strict=strict) for p in inputs]
    to = to or read[0].meta["source_format"]
    merged, notes = edit.merge(read, _source_labels(inputs), fold_names=fold_names)
    del read  # the inputs' tables go before the writer builds its output
    _say(notes, quiet)
    merged = _edit_classes(merged, classes)
    fmt, written = _write(merged, output, to=to,
                          dataset=tuple(inputs), quiet=quiet, images=images,
                          overwrite=overwrite)
    click.echo(f"{len(inputs)} datasets merged: {written}; written as {fmt} to {output}")


def _refuse_repeated(inputs: list[str]) -> None:
    """The same dataset twice (by resolved path) is a mistake, not a merge."""
    seen: dict[str, str] = {}
    for path in inputs:
        real = os.path.realpath(path)
        if real in seen:
            raise AnnokitError(f"{path}: given twice (also as {seen[real]}); merging a "
                               "dataset with itself changes nothing")
        seen[real] = path


def _source_labels(inputs: list[str]) -> list[str]:
    """Each input's label in the 'source' column: its path as given (unique by design)."""
    return [os.path.normpath(p) for p in inputs]


ACCEPT_CHOICES = ("swap", "badloc", "spurious", "overlooked", "flip")


@main.command(name="apply")
@click.argument("dataset", type=KernelPath(path_type=str))
@click.argument("scores", type=KernelPath(path_type=str))
@click.argument("output", type=KernelPath(path_type=str))
@click.option("--accept", default=",".join(ACCEPT_CHOICES), show_default=True,
              help="The issues whose suggested fixes are applied, comma-separated.")
@click.option("--max-quality", type=Number(float, 0, 1), default=None,
              help="Apply only rows of at most this quality (default: every flagged row; "
                   "overlooked candidates below 0.5).")
@click.option("--log", "log_path", type=KernelPath(path_type=str), default=None,
              help="The change log CSV (default: OUTPUT.changes.csv beside OUTPUT).")
@_read_options
@_write_options
@_common
def apply_command(dataset: str, scores: str, output: str, accept: str, max_quality,
                  log_path, read: dict, to, images, overwrite: bool, quiet: bool) -> None:
    """Apply the fixes SCORES (annokit score --out) suggests to DATASET; write OUTPUT.

    swap/flip relabel, badloc moves, spurious removes, overlooked adds. A scores CSV with
    an 'accept' column applies only the rows a reviewer marked (1, yes, true, x).

    \b
    Examples:
      annokit apply data/voc scores.json out/voc-fixed --accept swap,spurious
      annokit apply data/coco reviewed.csv out/coco-fixed --log changes.csv
    """
    from . import edit
    from .edit.apply import LOG_COLUMNS

    chosen = tuple(a.strip() for a in accept.split(",") if a.strip())
    unknown = [a for a in chosen if a not in ACCEPT_CHOICES]
    if unknown or not chosen:
        raise AnnokitError(f"--accept: {unknown[0] if unknown else accept!r} is not an issue; "
                           f"choose from {', '.join(ACCEPT_CHOICES)}")
    inputs = tuple(p for p in (dataset, scores, read["image_root"]) if p)
    log_path = log_path or os.path.normpath(output) + ".changes.csv"
    check_output(output, inputs, overwrite=overwrite)  # both refused before the work
    check_output(log_path, (*inputs, output), overwrite=True, report=True)
    ds = _read(dataset, quiet, **read)
    fixed, log = edit.apply_fixes(ds, scores, accept=chosen, max_quality=max_quality)
    fmt, written = _write(fixed, output, to=to, dataset=inputs, quiet=quiet, images=images,
                          overwrite=overwrite, voc_one_based=read["voc_one_based"])
    write_file_atomic(log_path, log[LOG_COLUMNS].to_csv(index=False),
                      protect=(*inputs, output))
    counts = log["change"].value_counts()
    done = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("relabel", "move", "remove", "add"))
    click.echo(f"{len(log)} fixes applied ({done}); {written} written as {fmt} to {output}; "
               f"change log {log_path}")


@main.command(name="diff")
@click.argument("old", type=KernelPath(path_type=str))
@click.argument("new", type=KernelPath(path_type=str))
@click.option("--json", "json_out", type=KernelPath(path_type=str), is_flag=False,
              flag_value=STDOUT, help="Write the differences as JSON (- or no value: standard "
                                      "output; the table goes to stderr).")
@click.option("--match", type=click.Choice(["auto", "id", "iou"]), default="auto",
              show_default=True, help="Pair annotations by id or by box overlap "
                                      "(auto: by id when both carry the same ids).")
@click.option("--iou", type=Number(float, 0.01, 1), default=0.5, show_default=True,
              help="Box overlap at which two boxes are the same object.")
@click.option("--top", type=Number(int, 0, 10**6), default=20, show_default=True,
              help="Changed images listed.")
@click.option("--strict", is_flag=True, help="Stop at the first broken record.")
@_common
def diff_command(old: str, new: str, json_out: str | None, match: str, iou: float, top: int,
                 strict: bool, quiet: bool) -> None:
    """Compare two versions of a dataset; exit 1 when they differ, 0 when equal.

    Per image: annotations added, removed, relabelled and moved, with totals per class.

    \b
    Examples:
      annokit diff data/voc out/voc-fixed
      annokit diff v1/annotations.json v2/annotations.json --json changes.json
      annokit diff v1/annotations.json v2/annotations.json --json - | jq .totals
    """
    import orjson

    from . import edit
    from .edit.diff import to_json

    if json_out and json_out != STDOUT:  # a bad --json path is refused before the work
        check_output(json_out, (old, new), overwrite=True, report=True)
    result = edit.diff(_read(old, quiet, strict=strict), _read(new, quiet, strict=strict),
                       match=match, iou=iou)
    click.echo(edit.format_diff(result, top=top), err=json_out == STDOUT)
    if json_out:
        data = orjson.dumps(to_json(result), option=orjson.OPT_INDENT_2
                            | orjson.OPT_SERIALIZE_NUMPY)
        if json_out == STDOUT:  # the JSON alone on stdout; the table went to stderr
            _to_stdout(data)
        else:
            write_file_atomic(json_out, data + b"\n", protect=(old, new))
    if result.changed:
        sys.exit(1)
