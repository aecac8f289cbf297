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
