"""How well `annokit score` finds planted annotation errors, how long it takes, how much memory.

Errors are planted with a fixed seed (annokit.score.inject):
  bccd      swap 5% of classes, move/resize 5% of boxes to IoU < 0.5, delete 10%, add 5%
            spurious boxes on background (rate r: swap r, badloc r, delete 2r, spurious r)
  raccoon   the same without swaps (one class); bootstrap 95% intervals
  sld       sign_language_digits: flip 5% of labels (rate r)

Per error type: AUROC of the type's own score (chosen before any test seed was looked at:
swap_quality for swaps, badloc_quality for moved boxes, spurious_quality for spurious
boxes; `quality` for flips) against the untouched annotations, precision at k (k = number
planted), and overlooked recall at k/2k/5k (k = boxes deleted; a deleted box is found when a
candidate in its image has IoU >= 0.5 with it). With `cnn`, cleanlab's object-detection
box scores on the same out-of-fold predictions are recorded beside ours.

Each run is a child process, so its wall time and peak RSS are its own.

    python baselines/score_bench.py --dataset bccd --model classic --seed 0 --rate 0.05
    python baselines/score_bench.py --all --out baselines/score_results.json   # everything
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "datasets"
SOURCES = {"bccd": (DATA / "bccd" / "BCCD", "voc"),
           "raccoon": (DATA / "raccoon", "voc"),
           "sld": (DATA / "sign_language_digits" / "Dataset", "imagefolder")}
TYPES = ("swap", "badloc", "spurious")


def _auroc(y, s):
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else float("nan")


def _boot(y, s, n=500, seed=0):
    """95% bootstrap interval of the AUROC (resampling annotations)."""
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n):
        i = rng.integers(0, len(y), len(y))
        if 0 < y[i].sum() < len(i):
            vals.append(_auroc(y[i], s[i]))
    return [float(np.quantile(vals, 0.025)), float(np.quantile(vals, 0.975))] if vals else None


def _type_metrics(err, badness, kind, boot):
    """AUROC and precision@k of one score (higher = worse) for planted ``kind`` vs clean."""
    m = np.array([e is None or e == kind for e in err])
    y = np.array([e == kind for e in err[m]])
    s = np.nan_to_num(badness[m], nan=-1.0)  # unjudged (zero-size boxes): least suspect
    k = int(y.sum())
    out = {"n": k, "auroc": _auroc(y, s),
           "precision_at_k": float(y[np.argsort(-s, kind="stable")[:k]].mean()) if k else None}
    if boot:
        out["auroc_95"] = _boot(y, s)
    return out


def _recall(cand: pd.DataFrame, deleted: pd.DataFrame, order: np.ndarray) -> dict:
    """Share of deleted boxes matched (IoU >= 0.5, same image) among the top k/2k/5k."""
    from annokit.geometry import iou_matrix

    k = len(deleted)
    out = {}
    for mult in (1, 2, 5):
        top = cand.iloc[order[:mult * k]]
        found = np.zeros(k, bool)
        for image, group in top.groupby("image_id"):
            mine = np.flatnonzero(deleted["image_id"].to_numpy() == image)
            if len(mine):
                iou = iou_matrix(deleted[["x", "y", "w", "h"]].to_numpy()[mine],
                                 group[["x", "y", "w", "h"]].to_numpy())
                found[mine] |= iou.max(axis=1) >= 0.5
        out[f"recall_at_{mult}k"] = float(found.mean()) if k else None
    return out


def _cleanlab_reference(noisy, pred, err, deleted, boot) -> dict:
    """cleanlab.object_detection box scores on the same predictions, per type."""
    from cleanlab.object_detection import rank

    classes = noisy.categories["id"].to_numpy()
    labels, preds, rows = [], [], []
    anns = noisy.annotations
    for image in noisy.images["id"].to_numpy():
        mine = anns[(anns["image_id"] == image) & (anns["w"] > 0) & (anns["h"] > 0)]
        xyxy = np.c_[mine[["x", "y"]].to_numpy(), mine[["x", "y"]].to_numpy()
                     + mine[["w", "h"]].to_numpy()]
        labels.append({"bboxes": xyxy.reshape(-1, 4),
                       "labels": np.searchsorted(classes, mine["category_id"].to_numpy())})
        rows.append(mine.index.to_numpy())
        p = pred.annotations[pred.annotations["image_id"] == image]
        per = np.empty(len(classes), dtype=object)
        for c, cid in enumerate(classes):
            q = p[p["category_id"] == cid]
            per[c] = np.c_[q[["x", "y"]].to_numpy(), q[["x", "y"]].to_numpy()
                           + q[["w", "h"]].to_numpy(), q["score"].to_numpy()].reshape(-1, 5)
        preds.append(per)
    # cleanlab's default thresholds (0.7 / 0.1) assume a calibrated detector; heatmap peaks
    # sit lower (median 0.12, 1.4% >= 0.7 on bccd), so they are lowered to our own (0.3/0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parts = {"swap": rank.compute_swap_box_scores(labels=labels, predictions=preds,
                                                      high_probability_threshold=0.3),
                 "badloc": rank.compute_badloc_box_scores(labels=labels, predictions=preds,
                                                          low_probability_threshold=0.05),
                 "overlooked": rank.compute_overlooked_box_scores(
                     labels=labels, predictions=preds, high_probability_threshold=0.3)}
        image_q = rank.get_label_quality_scores(labels, preds, verbose=False)
    out = {}
    n = len(anns)
    for kind, per_image in (("swap", parts["swap"]), ("badloc", parts["badloc"])):
        q = np.full(n, np.nan)
        for r, v in zip(rows, per_image):
            q[r] = v
        out[kind] = _type_metrics(err, 1 - q, kind, boot)
    # cleanlab has no spurious score: its badloc score is the closest
    q = np.full(n, np.nan)
    for r, v in zip(rows, parts["badloc"]):
        q[r] = v
    out["spurious (badloc score)"] = _type_metrics(err, 1 - q, "spurious", boot)
    cand = []
    for image, per, v in zip(noisy.images["id"].to_numpy(), preds, parts["overlooked"]):
        boxes = np.vstack([b for b in per]) if len(per) else np.zeros((0, 5))
        cand.append(pd.DataFrame({"image_id": image, "x": boxes[:, 0], "y": boxes[:, 1],
                                  "w": boxes[:, 2] - boxes[:, 0], "h": boxes[:, 3] - boxes[:, 1],
                                  "q": v}))
    cand = pd.concat(cand, ignore_index=True).dropna(subset=["q"])
    out["overlooked"] = _recall(cand, deleted, np.argsort(cand["q"].to_numpy(), kind="stable"))
    img_err = noisy.images["id"].isin(anns.loc[[e is not None for e in err], "image_id"])
    out["image_auroc"] = _auroc(img_err.to_numpy(), -image_q)
    return out


def _keep(result, dataset, model, seed, rate) -> None:
    """The raw scores beside the log (baselines/_work, ignored by git): a failure in the
    metrics must not cost a long run."""
    import pickle

    work = HERE / "_work"
    work.mkdir(exist_ok=True)
    with open(work / f"{dataset}_{model}_{seed}_{rate}.pkl", "wb") as f:
        pickle.dump(result, f)


def _load(dataset, model, seed, rate):
    import pickle

    with open(HERE / "_work" / f"{dataset}_{model}_{seed}_{rate}.pkl", "rb") as f:
        return pickle.load(f)


def rescore(path: Path) -> None:
    """Recompute the metrics of every row of ``path`` from its kept raw scores (the
    planted errors are re-made from the seed); timings stay those of the run."""
    rows = json.loads(path.read_text())
    for row in rows:
        if (HERE / "_work" / f"{row['dataset']}_{row['model']}_{row['seed']}_{row['rate']}.pkl"
                ).exists():
            again = run_one(row["dataset"], row["model"], row["seed"], row["rate"],
                            row["iterations"], reuse=True)
            row["metrics"] = again["metrics"]
    path.write_text(json.dumps(rows, indent=1) + "\n")


def run_one(dataset: str, model: str, seed: int, rate: float, iterations: int | None,
            reuse: bool = False) -> dict:
    import annokit
    from annokit.score import score
    from annokit.score.inject import inject_detection_errors, inject_label_flips

    path, fmt = SOURCES[dataset]
    ds = annokit.read(path, fmt)
    boot = dataset == "raccoon"
    start = time.perf_counter()
    if dataset == "sld":
        noisy, truth = inject_label_flips(ds, rate, seed=seed)
        start = time.perf_counter()
        result = score(noisy, model=model, seed=0, iterations=iterations)
        wall = time.perf_counter() - start
        err = np.array(["flip" if f else None for f in truth["flipped"]], dtype=object)
        bad = 1 - result.annotations["quality"].to_numpy()
        metrics = {"flip": _type_metrics(err, bad, "flip", boot)}
        metrics["flip"]["flagged_recall"] = float(
            (result.annotations["issue"].to_numpy()[truth["flipped"].to_numpy()] == "flip").mean())
    else:
        noisy, truth, deleted = inject_detection_errors(
            ds, seed, swap=0 if dataset == "raccoon" else rate, badloc=rate, delete=2 * rate,
            spurious=rate)
        start = time.perf_counter()
        result = (_load(dataset, model, seed, rate) if reuse else
                  score(noisy, model=model, seed=0, iterations=iterations))
        wall = time.perf_counter() - start
        _keep(result, dataset, model, seed, rate)
        # pandas may hold the clean rows as NaN, not None
        err = np.array([e if isinstance(e, str) else None for e in truth["error"]], dtype=object)
        n = len(noisy.annotations)
        table = result.annotations
        metrics = {}
        for kind in TYPES:
            if kind == "swap" and dataset == "raccoon":
                continue
            own = 1 - table[f"{kind}_quality"].to_numpy()[:n]
            metrics[kind] = _type_metrics(err, own, kind, boot)
            metrics[kind]["auroc_of_quality"] = _type_metrics(
                err, 1 - table["quality"].to_numpy()[:n], kind, False)["auroc"]
        cand = table.iloc[n:].rename(columns={f"suggested_{c}": c for c in "xywh"})
        metrics["overlooked"] = _recall(cand, deleted,
                                        np.argsort(cand["quality"].to_numpy(), kind="stable"))
        metrics["overlooked"]["candidates"] = len(cand)
        if result.predictions is not None:
            metrics["cleanlab_on_same_predictions"] = _cleanlab_reference(
                noisy, result.predictions, err, deleted, boot)
    use = resource.getrusage(resource.RUSAGE_SELF)
    peak = use.ru_maxrss / 1024
    return {"dataset": dataset, "model": model, "seed": seed, "rate": rate,
            "iterations": iterations, "wall_s": round(wall, 1),
            "cpu_s_whole_process": round(use.ru_utime + use.ru_stime, 1), "peak_mb": round(peak),
            "load_before": os.getloadavg(), "skipped": len(result.notes.of("skipped")),
            "metrics": metrics}


def _fmt(v) -> str:
    return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.3f}"


def table(rows: list[dict]) -> str:
    """The results as one markdown table (AUROC / precision at k per type)."""
    lines = ["| dataset | model | seed | rate | swap | badloc | spurious | flip | "
             "overlooked recall k / 2k / 5k | wall s | CPU s | peak MB | load (1 min) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        m = r["metrics"]
        cells = []
        for kind in ("swap", "badloc", "spurious", "flip"):
            x = m.get(kind)
            cell = f"{_fmt(x['auroc'])} / {_fmt(x['precision_at_k'])}" if x else ""
            if x and x.get("auroc_95"):
                cell += f" [{x['auroc_95'][0]:.2f}-{x['auroc_95'][1]:.2f}]"
            cells.append(cell)
        o = m.get("overlooked")
        over = " / ".join(_fmt(o[f"recall_at_{k}k"]) for k in (1, 2, 5)) if o else ""
        lines.append(f"| {r['dataset']} | {r['model']} | {r['seed']} | {r['rate']} | "
                     + " | ".join(cells) + f" | {over} | {r['wall_s']} | "
                     f"{r.get('cpu_s_whole_process', '-')} | {r['peak_mb']} | "
                     f"{r['load_at_start'][0]} |")
        ref = m.get("cleanlab_on_same_predictions")
        if ref:
            cl = [f"{_fmt(ref[k]['auroc'])} / {_fmt(ref[k]['precision_at_k'])}"
                  for k in ("swap", "badloc", "spurious (badloc score)")]
            o = ref["overlooked"]
            lines.append(f"| {r['dataset']} | cleanlab on the same predictions | {r['seed']} | "
                         f"{r['rate']} | " + " | ".join(cl) + " |  | "
                         + " / ".join(_fmt(o[f"recall_at_{k}k"]) for k in (1, 2, 5))
                         + " | | | | |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=list(SOURCES), action="append")
    ap.add_argument("--model", choices=["classic", "cnn"], action="append")
    ap.add_argument("--seed", type=int, action="append")
    ap.add_argument("--rate", type=float, action="append")
    ap.add_argument("--iterations", type=int, default=None)
    ap.add_argument("--out", type=Path, default=None, help="append results to this JSON file")
    ap.add_argument("--table", type=Path, default=None,
                    help="print the results in this JSON file as a markdown table")
    ap.add_argument("--rescore", type=Path, default=None,
                    help="recompute the metrics in this JSON file from the kept raw scores")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rescore:
        rescore(args.rescore)
        return
    if args.table:
        print(table(json.loads(args.table.read_text())))
        return
    if args.child:
        print(json.dumps(run_one(args.dataset[0], args.model[0], args.seed[0], args.rate[0],
                                 args.iterations)))
        return
    for dataset in args.dataset or list(SOURCES):
        for model in args.model or ["classic"]:
            for seed in args.seed or [0]:
                for rate in args.rate or [0.05]:
                    cmd = [sys.executable, __file__, "--child", "--dataset", dataset,
                           "--model", model, "--seed", str(seed), "--rate", str(rate)]
                    if args.iterations:
                        cmd += ["--iterations", str(args.iterations)]
                    load = os.getloadavg()
                    done = subprocess.run(cmd, capture_output=True, text=True)
                    if done.returncode:
                        print(done.stderr[-3000:], file=sys.stderr)
                        continue
                    row = json.loads(done.stdout.strip().splitlines()[-1])
                    row["load_at_start"] = [round(x, 2) for x in load]
                    print(json.dumps(row), flush=True)
                    if args.out:
                        rows = json.loads(args.out.read_text()) if args.out.exists() else []
                        rows.append(row)
                        args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
