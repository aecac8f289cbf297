"""The honest score bench: two error recipes and a no-errors run, judged as a user sees them.

Recipes (``--recipe``):
  apart   baselines/plant_errors.py, written apart from the scorer (imports nothing from
          annokit.score): edges dragged (Laplace) and clipped at the border, swaps and spurious
          classes by class frequency, spurious sizes from that class's boxes
  ours    annokit.score.inject (moved boxes share samples.jitter with the badloc training)
  clean   no planted error: every flag is a false alarm, every candidate a guess

Per error type: AUROC of the type's own quality (and of ``quality``) against the untouched
annotations, and the share of planted errors flagged (recall at the flag threshold). Over
all flags: precision (planted among flagged) and flags per 100 clean boxes. Overlooked:
candidates shown, candidates per 10 boxes, recall of deleted boxes among the top k / 2k
(k = boxes deleted; found = a candidate in its image with IoU >= 0.5) and among all shown.
Each run is a child process: wall time, CPU time and peak RSS are its own; the 1-minute
load at the start sits beside them.

    python baselines/score_bench2.py --dataset bccd --recipe apart --recipe clean --out X.json
    python baselines/score_bench2.py --table baselines/score2_results.json
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
DATA = Path(os.environ.get("ANNOKIT_DATASETS", HERE.parent.parent / "shared" / "datasets"))
SOURCES = {"bccd": (DATA / "bccd" / "BCCD", "voc"),
           "raccoon": (DATA / "raccoon", "voc"),
           "sld": (DATA / "sign_language_digits" / "Dataset", "imagefolder")}
TYPES = ("swap", "badloc", "spurious")
WORK = HERE / "_work"
BINS = (0.0, 0.1, 0.3, 0.5, 0.8, 1.01)  # quality bins of the reliability rows


def _auroc(y, s) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else float("nan")


def plant(dataset: str, recipe: str, seed: int, rate: float):
    """(noisy dataset, error per annotation, deleted boxes or None)."""
    import annokit

    path, fmt = SOURCES[dataset]
    ds = annokit.read(path, fmt)
    if recipe == "clean":
        err = np.full(len(ds.annotations), None, dtype=object)
        return ds, err, (ds.annotations.iloc[:0] if dataset != "sld" else None)
    if dataset == "sld":
        if recipe == "apart":
            from plant_errors import plant_flips
            noisy, truth = plant_flips(ds, rate, seed=seed)
        else:
            from annokit.score.inject import inject_label_flips
            noisy, truth = inject_label_flips(ds, rate, seed=seed)
        return noisy, np.array(["flip" if f else None for f in truth["flipped"]], object), None
    kw = dict(swap=0 if dataset == "raccoon" else rate, badloc=rate, delete=2 * rate,
              spurious=rate)
    if recipe == "apart":
        from plant_errors import plant_detection
        noisy, truth, deleted = plant_detection(ds, seed, **kw)
    else:
        from annokit.score.inject import inject_detection_errors
        noisy, truth, deleted = inject_detection_errors(ds, seed, **kw)
    err = np.array([e if isinstance(e, str) else None for e in truth["error"]], dtype=object)
    return noisy, err, deleted


def split_rows(result, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The annotations' own rows and the overlooked candidates (either output shape)."""
    table = result.annotations
    cand = getattr(result, "overlooked", None)
    if cand is None:
        cand = table.iloc[n:].rename(columns={f"suggested_{c}": c for c in "xywh"})
        table = table.iloc[:n]
    return table.reset_index(drop=True), cand.reset_index(drop=True)


def _found(cand: pd.DataFrame, deleted: pd.DataFrame,
           points: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Per deleted box: found by which candidate rank (inf: none); per candidate: hit
    (IoU >= 0.5; with ``points``, the candidate's centre inside the deleted box)."""
    from annokit.geometry import iou_matrix

    first = np.full(len(deleted), np.inf)
    hit = np.zeros(len(cand), bool)
    rank = np.empty(len(cand))
    rank[np.argsort(cand["quality"].to_numpy(), kind="stable")] = np.arange(len(cand))
    dimg = deleted["image_id"].to_numpy()
    for image, group in cand.groupby("image_id"):
        mine = np.flatnonzero(dimg == image)
        if not len(mine):
            continue
        gone = deleted[["x", "y", "w", "h"]].to_numpy(float)[mine]
        found = group[["x", "y", "w", "h"]].to_numpy(float)
        if points:
            cx, cy = found[:, 0] + found[:, 2] / 2, found[:, 1] + found[:, 3] / 2
            iou = ((cx[None] >= gone[:, :1]) & (cx[None] <= gone[:, :1] + gone[:, 2:3])
                   & (cy[None] >= gone[:, 1:2]) & (cy[None] <= gone[:, 1:2] + gone[:, 3:4]))
        else:
            iou = iou_matrix(gone, found) >= 0.5
        r = rank[group.index.to_numpy()]
        first[mine] = np.minimum(first[mine], np.where(iou, r[None], np.inf).min(axis=1))
        hit[group.index.to_numpy()] = iou.any(axis=0)
    return first, hit


def _reliability(quality: np.ndarray, planted: np.ndarray) -> list[dict]:
    """Per quality bin: boxes, share planted (a floor: natural errors are not counted) and
    the mean 1 - quality (what the scores promise)."""
    out = []
    for lo, hi in zip(BINS[:-1], BINS[1:]):
        mine = (quality >= lo) & (quality < hi)
        out.append({"bin": [lo, min(hi, 1.0)], "boxes": int(mine.sum()),
                    "planted": float(planted[mine].mean()) if mine.any() else None,
                    "promised": float((1 - quality[mine]).mean()) if mine.any() else None})
    return out


def detection_metrics(table, cand, err, deleted, points: bool = False) -> dict:
    clean = np.array([e is None for e in err])
    issue = table["issue"].to_numpy(object)
    flagged = np.array([isinstance(i, str) for i in issue])
    out = {"boxes": int(len(err)), "flags": int(flagged.sum()),
           "flags_per_100_clean": float(100 * (flagged & clean).sum() / max(clean.sum(), 1)),
           "flagged_pct": float(100 * flagged.mean()) if len(err) else None,
           "precision": float((flagged & ~clean).sum() / flagged.sum()) if flagged.any()
           else None, "by_issue": {}}
    quality = table["quality"].to_numpy(float) if "quality" in table else None
    if quality is not None and flagged.any():
        # what the printed qualities promise: the flags' mean P(wrong) against the precision
        out["expected_precision"] = float(np.nanmean(1 - quality[flagged]))
    if quality is not None:
        out["reliability"] = _reliability(quality, ~clean)
    for name in sorted({i for i in issue if isinstance(i, str)}):
        mine = issue == name
        out["by_issue"][name] = {"flags": int(mine.sum()),
                                 "precision": float((~clean[mine]).mean())}
    for kind in TYPES:
        planted = np.array([e == kind for e in err])
        if not planted.any() or f"{kind}_quality" not in table:
            continue
        judge = clean | planted
        own = 1 - np.nan_to_num(table[f"{kind}_quality"].to_numpy(float), nan=1.0)
        worst = 1 - np.nan_to_num(table["quality"].to_numpy(float), nan=1.0)
        out[kind] = {"n": int(planted.sum()), "auroc": _auroc(planted[judge], own[judge]),
                     "auroc_of_quality": _auroc(planted[judge], worst[judge]),
                     "recall_at_flag": float(flagged[planted].mean()),
                     "named_right": float((issue[planted] == kind).mean())}
    k = len(deleted)
    first, hit = _found(cand, deleted, points)
    out["overlooked"] = {"deleted": k, "candidates": int(len(cand)),
                         "candidates_per_10_boxes": float(10 * len(cand) / max(len(err), 1)),
                         "recall_at_1k": float((first < k).mean()) if k else None,
                         "recall_at_2k": float((first < 2 * k).mean()) if k else None,
                         "recall_shown": float(np.isfinite(first).mean()) if k else None,
                         "precision_shown": float(hit.mean()) if len(cand) and k else None}
    return out


def cleanlab_metrics(ds, pred, err, deleted) -> dict:
    """The reference: cleanlab.object_detection.rank's per-box scores on the same
    out-of-fold predictions (``result.predictions``): AUROC per planted type (swap and
    badloc by their own score; spurious by the badloc score, as cleanlab has no type for a
    box on nothing) and recall of deleted boxes among its 2k lowest overlooked scores."""
    from cleanlab.object_detection import rank

    classes = ds.categories["id"].to_numpy()
    code = {c: i for i, c in enumerate(classes.tolist())}
    anns, boxes = ds.annotations, pred.annotations
    by_img = {i: g for i, g in anns.groupby("image_id")}
    pred_by = {i: g for i, g in boxes.groupby("image_id")}
    labels, predictions, rows, pred_rows = [], [], [], []
    for image in ds.images["id"].tolist():
        a = by_img.get(image, anns.iloc[:0])
        xy = a[["x", "y", "w", "h"]].to_numpy(float)
        labels.append({"bboxes": np.c_[xy[:, :2], xy[:, :2] + xy[:, 2:]],
                       "labels": np.array([code[c] for c in a["category_id"]], int)})
        rows.append(a.index.to_numpy())
        p = pred_by.get(image, boxes.iloc[:0])
        pxy = p[["x", "y", "w", "h"]].to_numpy(float)
        full = np.c_[pxy[:, :2], pxy[:, :2] + pxy[:, 2:], p["score"].to_numpy(float)]
        cls = np.array([code.get(c, -1) for c in p["category_id"]], int)
        predictions.append([full[cls == k] for k in range(len(classes))])
        pred_rows.append(np.concatenate([p.index.to_numpy()[cls == k]
                                         for k in range(len(classes))]))
    out = {}
    per_type = {"swap": rank.compute_swap_box_scores, "badloc": rank.compute_badloc_box_scores}
    scores = {}
    for name, fn in per_type.items():
        got = fn(labels=labels, predictions=predictions)
        scores[name] = np.full(len(anns), np.nan)
        for r, g in zip(rows, got):
            scores[name][anns.index.get_indexer(r)] = g
    clean = np.array([e is None for e in err])
    for kind, by in (("swap", "swap"), ("badloc", "badloc"), ("spurious", "badloc")):
        planted = np.array([e == kind for e in err])
        if planted.any():
            judge = clean | planted
            out[kind] = {"auroc": _auroc(planted[judge],
                                         1 - np.nan_to_num(scores[by][judge], nan=1.0))}
    if deleted is not None and len(deleted):
        over = rank.compute_overlooked_box_scores(labels=labels, predictions=predictions)
        q = np.full(len(boxes), np.nan)
        for r, g in zip(pred_rows, over):
            q[boxes.index.get_indexer(r)] = g
        cand = boxes.assign(quality=np.nan_to_num(q, nan=1.0)).reset_index(drop=True)
        first, _ = _found(cand, deleted)
        out["overlooked"] = {"recall_at_2k": float((first < 2 * len(deleted)).mean())}
    return out


def flip_metrics(table, err) -> dict:
    planted = np.array([e == "flip" for e in err])
    flagged = table["issue"].notna().to_numpy()
    out = {"boxes": int(len(err)), "flags": int(flagged.sum()),
           "flags_per_100_clean": float(100 * (flagged & ~planted).sum()
                                        / max((~planted).sum(), 1)),
           "precision": float(planted[flagged].mean()) if flagged.any() else None}
    if planted.any():
        out["flip"] = {"n": int(planted.sum()),
                       "auroc": _auroc(planted, 1 - table["quality"].to_numpy(float)),
                       "recall_at_flag": float(flagged[planted].mean())}
    return out


def run_one(dataset: str, recipe: str, seed: int, rate: float, model: str | None,
            points: bool = False) -> dict:
    from annokit.score import score

    noisy, err, deleted = plant(dataset, recipe, seed, rate)
    if points:  # the planted boxes as centre points: a moved box is a point off its object
        from annokit.points import boxes_to_points
        noisy = boxes_to_points(noisy)
    start = time.perf_counter()
    cpu0 = time.process_time()
    result = score(noisy, seed=0) if model is None else score(noisy, model=model, seed=0)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    WORK.mkdir(exist_ok=True)
    with open(WORK / f"bench2_{dataset}_{recipe}_{seed}_{model}{'_points' * points}.pkl",
              "wb") as f:
        pickle.dump({"result": result, "err": err, "deleted": deleted}, f)
    if dataset == "sld":
        metrics = flip_metrics(result.annotations, err)
    else:
        table, cand = split_rows(result, len(noisy.annotations))
        metrics = detection_metrics(table, cand, err, deleted, points)
        if getattr(result, "predictions", None) is not None and not points:
            metrics["cleanlab"] = cleanlab_metrics(noisy, result.predictions, err, deleted)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"dataset": dataset, "recipe": recipe, "seed": seed, "rate": rate,
            "model": (model or "default") + " (points)" * points, "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1),
            "peak_mb": round(peak), "metrics": metrics,
            "families": getattr(result, "families", None)}


def _f(v, digits=3) -> str:
    return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.{digits}f}"


def table(rows: list[dict]) -> str:
    """Markdown: per type AUROC / recall at flag; flags; overlooked; cost."""
    head = ("| dataset | recipe | seed | model | swap | badloc | spurious | flip | flags "
            "(precision / promised) | flags / 100 clean | candidates (/10 boxes) | "
            "overlooked R@2k / shown | wall s | CPU s | peak MB | load |")
    lines = [head, "|" + "---|" * 16]
    for r in rows:
        m = r["metrics"]
        cells = [f"{_f(m[k]['auroc'])} / {_f(m[k]['recall_at_flag'], 2)}" if k in m else ""
                 for k in ("swap", "badloc", "spurious", "flip")]
        o = m.get("overlooked") or {}
        cand = f"{o['candidates']} ({_f(o['candidates_per_10_boxes'], 2)})" if o else ""
        over = f"{_f(o.get('recall_at_2k'), 2)} / {_f(o.get('recall_shown'), 2)}" if o else ""
        lines.append(f"| {r['dataset']} | {r['recipe']} | {r['seed']} | {r['model']} | "
                     + " | ".join(cells) + f" | {m['flags']} ({_f(m['precision'], 2)} / "
                     f"{_f(m.get('expected_precision'), 2)}) | "
                     f"{_f(m['flags_per_100_clean'], 1)} | {cand} | {over} | {r['wall_s']} | "
                     f"{r['cpu_s']} | {r['peak_mb']} | {r['load_at_start'][0]} |")
        ref = m.get("cleanlab")
        if ref:  # the reference on the same out-of-fold predictions, one row below
            cells = [_f(ref[k]["auroc"]) if k in ref else "" for k in ("swap", "badloc",
                                                                       "spurious")]
            over = _f((ref.get("overlooked") or {}).get("recall_at_2k"), 2)
            lines.append(f"| {r['dataset']} | {r['recipe']} | {r['seed']} | cleanlab on "
                         f"{r['model']}'s predictions | " + " | ".join(cells)
                         + f" |  |  |  |  | {over} / - |  |  |  |  |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=list(SOURCES), action="append")
    ap.add_argument("--recipe", choices=["apart", "ours", "clean"], action="append")
    ap.add_argument("--seed", type=int, action="append")
    ap.add_argument("--rate", type=float, default=0.05)
    ap.add_argument("--model", default=None, help="one family (default: the default command)")
    ap.add_argument("--label", default=None, help="a name for this variant in the table")
    ap.add_argument("--out", type=Path, default=None, help="append results to this JSON file")
    ap.add_argument("--table", type=Path, default=None)
    ap.add_argument("--points", action="store_true",
                    help="score the planted boxes as centre points")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.table:
        print(table(json.loads(args.table.read_text())))
        return
    if args.child:
        print(json.dumps(run_one(args.dataset[0], args.recipe[0], args.seed[0], args.rate,
                                 args.model, args.points)))
        return
    for dataset in args.dataset or list(SOURCES):
        for recipe in args.recipe or ["apart", "ours", "clean"]:
            for seed in (args.seed or [0]) if recipe != "clean" else [0]:
                cmd = [sys.executable, __file__, "--child", "--dataset", dataset, "--recipe",
                       recipe, "--seed", str(seed), "--rate", str(args.rate)]
                if args.model:
                    cmd += ["--model", args.model]
                if args.points:
                    cmd += ["--points"]
                load = os.getloadavg()
                done = subprocess.run(cmd, capture_output=True, text=True)
                if done.returncode:
                    print(done.stderr[-3000:], file=sys.stderr)
                    continue
                row = json.loads(done.stdout.strip().splitlines()[-1])
                row["load_at_start"] = [round(x, 2) for x in load]
                if args.label:
                    row["model"] = args.label
                print(json.dumps(row), flush=True)
                if args.out:
                    rows = json.loads(args.out.read_text()) if args.out.exists() else []
                    rows.append(row)
                    args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
