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


def _list_notes(notes: list[str], quiet: bool, label: str = "skipped") -> None:
    if quiet:
        return
    for note in notes[:MAX_LISTED]:
        click.echo(f"  {label}: {note}", err=True)
    if len(notes) > MAX_LISTED:
        click.echo(f"  ... and {len(notes) - MAX_LISTED} more", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="annokit")
def main() -> None:
    """annokit: convert, check, split and score image annotation datasets."""


SOURCE_FORMATS = click.Choice(["auto", *formats.FORMATS])
TARGET_FORMATS = click.Choice(list(formats.FORMATS))


def _read_options(func):
    """The options every command that reads a dataset shares."""
    for decorator in reversed([
        click.option("--format", "format", type=SOURCE_FORMATS, default="auto",
                     help="Input format (default: detected)."),
        click.option("--image-root", type=click.Path(file_okay=False, path_type=str),
                     help="Folder holding the images."),
        click.option("--voc-one-based", is_flag=True,
                     help="VOC coordinates are 1-based inclusive pixel indices."),
        click.option("--strict", is_flag=True, help="Stop at the first broken record."),
    ]):
        func = decorator(func)
    return func


def _read(dataset: str, format: str, quiet: bool, **options):
    ds = formats.read(dataset, None if format == "auto" else format, **options)
    _list_notes(ds.meta.get("skipped", []), quiet)
    return ds


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


def _write(ds, output: str, to: str | None, dataset: str, quiet: bool, **options) -> str:
    fmt = to or ds.meta["source_format"]
    notes = formats.write(ds, output, fmt, protect=(dataset,), **options)
    _list_notes(notes, quiet, label="note")
    return fmt


def _floats(text: str, name: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise AnnokitError(f"--{name} must be numbers separated by commas, not {text!r}") from None


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
@click.option("--csv-layout", type=click.Choice(["label", "multilabel", "label_columns",
                                                 "onehot", "points", "boxes"]),
              default=None, help="csv target: the layout to write (default: from the data).")
@click.option("--label-delimiter", default=None,
              help="csv: the delimiter of a multi-label column (default: | then ; then ,).")
@click.option("--crops", is_flag=True,
              help="imagefolder target: one cropped image per box, in its class folder.")
@click.option("--crop-padding", type=float, default=0.0, show_default=True,
              help="Crops: padding on each side, as a fraction of the box size.")
@click.option("--crop-min-size", type=float, default=1.0, show_default=True,
              help="Crops: boxes with a side below this many pixels are skipped.")
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
    if options["crops"] and dst_format != "imagefolder":
        raise AnnokitError("--crops writes a folder per class: use it with the imagefolder "
                           "target")
    src = None if src_format == "auto" else src_format
    ds, notes = formats.convert(input, output, src, dst_format, **options)
    _list_notes(ds.meta.get("skipped", []), quiet)
    _list_notes(notes, quiet, label="note")
    source = ds.meta.get("source_format", src_format)
    line = f"{source} -> {dst_format}: {ds.summary_line()} written to {output}"
    if notes:
        line += f"; {len(notes)} note{'s' * (len(notes) > 1)} on what was not written"
    click.echo(line)


@main.command()
@click.argument("dataset", type=click.Path(path_type=str))
@_read_options
@_common
def info(dataset: str, format: str, quiet: bool, **options) -> None:
    """Summarise DATASET: counts per category and per split."""
    ds = _read(dataset, format, quiet, **options)
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
@_read_options
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
def check(dataset: str, format: str, image_root, voc_one_based: bool, strict: bool, config,
          fail_on, json_out, html_out, skip, no_images: bool, overwrite: bool, quiet: bool,
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
    ds = _read(dataset, format, quiet, image_root=image_root, voc_one_based=voc_one_based,
               strict=strict)
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


@main.command(name="split")
@click.argument("dataset", type=click.Path(path_type=str))
@click.argument("output", type=click.Path(path_type=str))
@click.option("--ratios", default="0.8,0.1,0.1", show_default=True,
              help="Shares of the splits, comma-separated, summing to 1.")
@click.option("--names", default="train,val,test", show_default=True,
              help="Split names, one per ratio.")
@click.option("--method", type=click.Choice(["auto", "random", "stratified", "multilabel"]),
              default="auto", show_default=True,
              help="auto: multi-label stratified for detection, stratified for single labels.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--group-by", default=None,
              help="Image column, or a regex on file names whose first group is the group "
                   "(e.g. '^(video\\d+)_'): no group spans two splits.")
@click.option("--near-duplicates/--no-near-duplicates", default=True, show_default=True,
              help="Keep near-duplicate images (perceptual hash) in one split.")
@click.option("--phash-distance", type=int, default=4, show_default=True)
@click.option("--keep-existing", is_flag=True,
              help="Keep current splits; assign only images without one.")
@click.option("--folds", type=int, default=None,
              help="K-fold: write OUTPUT/fold_<i>, each with train and val.")
@_read_options
@_write_options
@_common
def split_command(dataset: str, output: str, ratios: str, names: str, method: str, seed: int,
                  group_by, near_duplicates: bool, phash_distance: int, keep_existing: bool,
                  folds, format: str, image_root, voc_one_based: bool, strict: bool, to,
                  images, overwrite: bool, quiet: bool) -> None:
    """Split DATASET into train/val/test (or K folds), written at OUTPUT.

    \b
    Examples:
      annokit split data/voc out/voc-split --ratios 0.8,0.1,0.1
      annokit split data/coco out/yolo --to yolo --group-by '^(video\\d+)_'
      annokit split data/yolo out/folds --folds 5
    """
    import warnings

    from . import split as splitting

    ds = _read(dataset, format, quiet, image_root=image_root, voc_one_based=voc_one_based,
               strict=strict)
    write = dict(to=to, dataset=dataset, quiet=quiet, images=images, overwrite=overwrite,
                 voc_one_based=voc_one_based)
    grouping = dict(seed=seed, group_by=group_by, near_duplicates=near_duplicates,
                    phash_distance=phash_distance, method=method)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", splitting.SplitWarning)  # printed below, once
        if folds:
            result = splitting.kfold(ds, folds, **grouping)
            _list_notes(result.meta.get("split_info", {}).get("notes", []), quiet, label="note")
            for i, part in enumerate(splitting.fold_splits(result)):
                _write(part, f"{output}/fold_{i}", **write)
            click.echo(f"{folds} folds written to {output}/fold_0..{folds - 1}")
            return
        result = splitting.split(ds, _floats(ratios, "ratios"), names=names.split(","),
                                 keep_existing=keep_existing, **grouping)
    _list_notes(result.meta.get("split_info", {}).get("notes", []), quiet, label="note")
    fmt = _write(result, output, **write)
    click.echo(splitting.format_split_table(splitting.split_table(result)))
    click.echo(f"{ds.summary_line()} split and written as {fmt} to {output}")


@main.command(name="rebalance")
@click.argument("dataset", type=click.Path(path_type=str))
@click.argument("output", type=click.Path(path_type=str))
@click.option("--method", type=click.Choice(["repeat", "oversample", "undersample"]),
              default="repeat", show_default=True,
              help="repeat: LVIS repeat-factor sampling; or over/undersample at image level.")
@click.option("--threshold", type=float, default=0.001, show_default=True,
              help="LVIS repeat-factor threshold t.")
@click.option("--target", type=int, default=None,
              help="oversample: instances per class (default: the largest class).")
@click.option("--cap", type=int, default=None, help="undersample: most instances per class.")
@click.option("--keep-rare-images/--drop-rare-images", "protect_rare", default=True,
              show_default=True, help="undersample: never drop an image holding a rare class.")
@click.option("--only-split", default=None, help="Resample this split only (e.g. train).")
@click.option("--seed", type=int, default=0, show_default=True)
@_read_options
@_write_options
@_common
def rebalance_command(dataset: str, output: str, method: str, threshold: float, target, cap,
                      protect_rare: bool, only_split, seed: int, format: str, image_root,
                      voc_one_based: bool, strict: bool, to, images, overwrite: bool,
                      quiet: bool) -> None:
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
    from .fileio import atomic_output

    ds = _read(dataset, format, quiet, image_root=image_root, voc_one_based=voc_one_based,
               strict=strict)
    out, table = rebalancing.rebalance(ds, method, seed=seed, threshold=threshold,
                                       target=target, cap=cap, protect_rare=protect_rare,
                                       only_split=only_split)
    _list_notes(out.meta.get("rebalance_info", {}).get("notes", []), quiet, label="note")
    if output.lower().endswith(".txt"):
        with atomic_output(output, overwrite=overwrite, protect=(dataset,)) as tmp:
            tmp.write_text("\n".join(rebalancing.image_list(out)) + "\n")
        fmt = "image list"
    else:
        fmt = to or ds.meta["source_format"]
        if fmt != "coco" and out.images["file_name"].duplicated().any():
            raise AnnokitError(f"{output}: {fmt} cannot hold repeated images; write COCO "
                               "(--to coco) or an image list (OUTPUT ending in .txt)")
        _write(out, output, to=fmt, dataset=dataset, quiet=quiet, images=images,
               overwrite=overwrite, voc_one_based=voc_one_based)
    click.echo(rebalancing.format_rebalance_table(table))
    click.echo(f"{len(ds)} -> {len(out)} images, {len(ds.annotations)} -> "
               f"{len(out.annotations)} annotations, written as {fmt} to {output}")


def _sizes(values: tuple[str, ...]):
    """--size W,H (every class) or --size CLASS=W,H (repeatable) as points.Size."""
    if not values:
        return None
    per_class = {}
    for value in values:
        name, _, numbers = value.rpartition("=")
        size = _floats(numbers, "size")
        if len(size) not in (1, 2):
            raise AnnokitError(f"--size must be W,H or CLASS=W,H, not {value!r}")
        size = (size[0], size[-1])
        if not name:
            return size
        per_class[name] = size
    return per_class


@main.group()
def points() -> None:
    """Centre points: boxes to points and back."""


@points.command(name="to-points")
@click.argument("dataset", type=click.Path(path_type=str))
@click.argument("output", type=click.Path(path_type=str))
@_read_options
@_write_options
@_common
def to_points(dataset: str, output: str, format: str, to, quiet: bool, images, overwrite,
              **options) -> None:
    """Turn every box of DATASET into a point at its centre, written at OUTPUT.

    \b
    Example:
      annokit points to-points data/voc out/points.csv --to csv
    """
    from . import points as centre_points

    ds = _read(dataset, format, quiet, **options)
    out = centre_points.boxes_to_points(ds)
    fmt = _write(out, output, to=to, dataset=dataset, quiet=quiet, images=images,
                 overwrite=overwrite)
    click.echo(f"{out.summary_line()}: boxes as centre points, written as {fmt} to {output}")


@points.command(name="to-boxes")
@click.argument("dataset", type=click.Path(path_type=str))
@click.argument("output", type=click.Path(path_type=str))
@click.option("--size", multiple=True,
              help="Box size W,H for every class, or CLASS=W,H (repeatable). Default: each "
                   "class's median box size, learned from the boxes in DATASET or --reference.")
@click.option("--reference", type=click.Path(path_type=str),
              help="A dataset with boxes to learn the per-class sizes from.")
@_read_options
@_write_options
@_common
def to_boxes(dataset: str, output: str, size, reference, format: str, to, quiet: bool,
             images, overwrite, **options) -> None:
    """Turn every point of DATASET into a box of its class's size, written at OUTPUT.

    \b
    Examples:
      annokit points to-boxes counts.csv out/coco --to coco --size 24,24
      annokit points to-boxes counts.csv out/coco --to coco --reference data/voc
    """
    from . import points as centre_points

    ds = _read(dataset, format, quiet, **options)
    ref = _read(reference, "auto", quiet) if reference else None
    out = centre_points.points_to_boxes(ds, _sizes(size), reference=ref)
    fmt = _write(out, output, to=to, dataset=dataset, quiet=quiet, images=images,
                 overwrite=overwrite)
    click.echo(f"{out.summary_line()}: points as boxes, written as {fmt} to {output}")


@main.group()
def evaluate() -> None:
    """Score predictions against ground truth."""


@evaluate.command(name="points")
@click.argument("predictions", type=click.Path(path_type=str))
@click.argument("ground_truth", type=click.Path(path_type=str))
@click.option("--mode", type=click.Choice(["box", "distance"]), default="box", show_default=True,
              help="box: a point inside a ground-truth box matches it; distance: within "
                   "--distance x the object's size of its centre.")
@click.option("--distance", type=float, default=0.5, show_default=True)
@click.option("--max-distance", type=float, default=None,
              help="Pixels, for ground-truth points with no known size.")
@click.option("--size", multiple=True, help="Ground-truth point size W,H or CLASS=W,H.")
@click.option("--score-threshold", type=float, default=None)
@click.option("--any-class", is_flag=True, help="Match regardless of class.")
@click.option("--json", "json_out", type=click.Path(path_type=str),
              help="Write the metrics (and per-class figures) as JSON.")
@click.option("--format", "format", type=SOURCE_FORMATS, default="auto")
@_common
def evaluate_points(predictions: str, ground_truth: str, mode: str, distance: float,
                    max_distance, size, score_threshold, any_class: bool, json_out,
                    format: str, quiet: bool) -> None:
    """Precision, recall, F1 and counting error of predicted points against GROUND_TRUTH.

    \b
    Example:
      annokit evaluate points predictions.csv data/voc --mode box
    """
    import json

    from .evaluate import point_metrics
    from .fileio import atomic_output

    pred = _read(predictions, format, quiet)
    gt = _read(ground_truth, "auto", quiet)
    metrics = point_metrics(pred, gt, mode=mode, distance=distance, max_distance=max_distance,
                            size=_sizes(size), score_threshold=score_threshold,
                            classwise=not any_class)
    per_class = metrics["per_class"]
    click.echo(per_class.to_string(float_format=lambda v: f"{v:.3f}"))
    click.echo(f"precision {metrics['precision']:.3f}  recall {metrics['recall']:.3f}  "
               f"F1 {metrics['f1']:.3f}  (TP {metrics['tp']}, FP {metrics['fp']}, "
               f"FN {metrics['fn']})  count MAE {metrics['count_mae']:.3f} over "
               f"{metrics['images']} images")
    if json_out:
        scalars = {k: v for k, v in metrics.items() if not hasattr(v, "to_dict")}
        scalars["per_class"] = json.loads(per_class.to_json(orient="index"))
        with atomic_output(json_out, overwrite=True) as tmp:
            tmp.write_text(json.dumps(scalars, indent=2, default=float) + "\n")


@main.command(name="score")
@click.argument("dataset", type=click.Path(path_type=str))
@_read_options
@click.option("--task", type=click.Choice(["classification", "detection"]), default=None,
              help="Default: detection when the dataset has boxes.")
@click.option("--model", type=click.Choice(["classic", "cnn"]), default="classic",
              show_default=True, help="classic: HOG + colour features, scikit-learn; "
                                      "cnn: small CNNs from scratch (pip install annokit[torch]).")
@click.option("--predictions", type=click.Path(path_type=str), default=None,
              help="Your detector's output (COCO results JSON, or YOLO labels with a "
                   "confidence column): scores against it, trains nothing.")
@click.option("--weights", type=click.Path(path_type=str), default=None,
              help="Local torchvision/timm state dict or ONNX file whose embeddings the CNN "
                   "classifier uses (nothing is downloaded).")
@click.option("--folds", type=int, default=5, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--iterations", type=int, default=None,
              help="CNN training iterations per fold (default: the model's own).")
@click.option("--top", type=int, default=15, show_default=True,
              help="Rows of the worst-annotations table printed.")
@click.option("--out", type=click.Path(path_type=str), default=None,
              help="Write the scores: .json (COCO with scores), .csv or .parquet.")
@_common
def score_command(dataset: str, format: str, quiet: bool, task, model: str, predictions,
                  weights, folds: int, seed: int, iterations, top: int, out, **options) -> None:
    """Score every annotation of DATASET; likely label errors first.

    \b
    Example:
      annokit score ../shared/datasets/bccd/BCCD --out scores.json
    """
    from .score import format_worst, score, write_scores

    ds = _read(dataset, format, quiet, **options)
    result = score(ds, task=task, model=model, predictions=predictions, folds=folds, seed=seed,
                   weights=weights, iterations=iterations)
    _list_notes(result.skipped, quiet)
    click.echo(format_worst(ds, result, top))
    if out:
        write_scores(ds, result, out, overwrite=True, protect=(dataset,))
        if not quiet:
            click.echo(f"scores written to {out}", err=True)
