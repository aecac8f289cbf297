"""The ``annokit`` command line: parse, call the library, print. No logic of its own."""
from __future__ import annotations

import functools
import sys

import click

from . import formats, progress
from .errors import AnnokitError
from .fileio import IMAGE_MODES

MAX_LISTED = 20  # skipped records listed one per line; the rest are counted


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
            click.echo("annokit: interrupted; nothing was written", err=True)
            sys.exit(130)
        except Exception as e:  # a bug: still one line, the traceback on request
            if debug:
                raise
            click.echo(f"annokit: internal error: {type(e).__name__}: {e} "
                       "(run again with --debug for the traceback)", err=True)
            sys.exit(3)
    return wrapper


def _list_notes(notes: list[str], quiet: bool) -> None:
    if quiet:
        return
    for note in notes[:MAX_LISTED]:
        click.echo(f"  skipped: {note}", err=True)
    if len(notes) > MAX_LISTED:
        click.echo(f"  ... and {len(notes) - MAX_LISTED} more", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="annokit")
def main() -> None:
    """annokit: convert, check, split and score image annotation datasets."""


SOURCE_FORMATS = click.Choice(["auto", *formats.FORMATS])
TARGET_FORMATS = click.Choice(list(formats.FORMATS))


@main.command()
@click.argument("src_format", type=SOURCE_FORMATS)
@click.argument("dst_format", type=TARGET_FORMATS)
@click.argument("input", type=click.Path(path_type=str))
@click.argument("output", type=click.Path(path_type=str))
@click.option("--image-root", type=click.Path(file_okay=False, path_type=str),
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
@_common
def convert(src_format: str, dst_format: str, input: str, output: str, quiet: bool,
            **options) -> None:
    """Convert INPUT from SRC_FORMAT to DST_FORMAT, written at OUTPUT.

    \b
    Examples:
      annokit convert voc coco data/VOC2012 out/coco --voc-one-based
      annokit convert coco yolo instances_val.json out/yolo --image-root val2017
      annokit convert auto voc data/yolo out/voc --images copy
    """
    src = None if src_format == "auto" else src_format
    ds, notes = formats.convert(input, output, src, dst_format, **options)
    skipped = ds.meta.get("skipped", [])
    _list_notes(skipped + notes, quiet)
    source = ds.meta.get("source_format", src_format)
    line = f"{source} -> {dst_format}: {ds.summary_line()} written to {output}"
    if notes:
        line += f"; {len(notes)} notes on what {dst_format} could not hold"
    click.echo(line)


@main.command()
@click.argument("dataset", type=click.Path(path_type=str))
@click.option("--format", "format", type=SOURCE_FORMATS, default="auto")
@click.option("--image-root", type=click.Path(file_okay=False, path_type=str))
@click.option("--voc-one-based", is_flag=True)
@_common
def info(dataset: str, format: str, quiet: bool, **options) -> None:
    """Summarise DATASET: counts per category and per split."""
    ds = formats.read(dataset, None if format == "auto" else format, **options)
    _list_notes(ds.meta.get("skipped", []), quiet)
    click.echo(repr(ds))
    click.echo(ds.summary().to_string())


def _threshold_options(func):
    """One --option per Thresholds field, so every number is settable from the CLI."""
    from dataclasses import fields

    from .checks import Thresholds

    for f in reversed(fields(Thresholds)):
        func = click.option(f"--{f.name.replace('_', '-')}", f.name, type=int if f.type == "int" else float, default=None,
                            help=f"Threshold (default {f.default}).")(func)
    return func


FAIL_LEVELS = ("error", "warning", "never")


@main.command()
@click.argument("dataset", type=click.Path(path_type=str))
@click.option("--format", "format", type=SOURCE_FORMATS, default="auto")
@click.option("--image-root", type=click.Path(file_okay=False, path_type=str))
@click.option("--voc-one-based", is_flag=True)
@click.option("--config", type=click.Path(dir_okay=False, path_type=str),
              help="TOML or YAML file with thresholds, severities, skips and fail_on.")
@click.option("--fail-on", type=click.Choice(FAIL_LEVELS), default=None,
              help="Exit 1 when findings at or above this severity exist (default: error).")
@click.option("--json", "json_out", type=click.Path(path_type=str), help="Write the JSON report.")
@click.option("--html", "html_out", type=click.Path(path_type=str), help="Write the HTML report.")
@click.option("--skip", multiple=True, help="Leave out a check id or prefix (repeatable).")
@click.option("--no-images", is_flag=True, help="Do not open image files (faster).")
@click.option("--overwrite", is_flag=True, help="Replace existing report files.")
@_threshold_options
@_common
def check(dataset: str, format: str, image_root, voc_one_based: bool, config, fail_on,
          json_out, html_out, skip, no_images: bool, overwrite: bool, quiet: bool,
          **thresholds) -> None:
    """Check DATASET for annotation problems; exit 1 when findings reach --fail-on.

    \b
    Examples:
      annokit check data/voc --html qc.html --json qc.json
      annokit check data/coco/annotations.json --fail-on warning --min-box-area 36
    """
    from . import checks
    from .report import report, summary_table

    settings = checks.load_config(config) if config else {}
    limits = dict(settings.get("thresholds") or {})
    limits.update({k: v for k, v in thresholds.items() if v is not None})
    fail_on = fail_on or settings.get("fail_on", "error")
    if fail_on not in FAIL_LEVELS:
        raise AnnokitError(f"{config}: fail_on must be one of {', '.join(FAIL_LEVELS)}")
    ds = formats.read(dataset, None if format == "auto" else format, image_root=image_root,
                      voc_one_based=voc_one_based)
    found = checks.check(ds, skip=[*settings.get("skip", []), *skip], images=not no_images,
                         severity=settings.get("severity"), **limits)
    for out in (json_out, html_out):
        if out:
            report(ds, found, out, overwrite=overwrite)
    click.echo(summary_table(ds, found))
    levels = checks.SEVERITIES[: checks.SEVERITIES.index(fail_on) + 1] \
        if fail_on != "never" else ()
    failing = found["severity"].isin(levels).sum()
    if failing:
        click.echo(f"{failing} findings at or above '{fail_on}': failing", err=True)
        sys.exit(1)
