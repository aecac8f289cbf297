"""A cheap detector for overlooked objects: linear heads on frozen pretrained feature maps.

One EfficientNet-Lite0 pass per image (:mod:`annokit.score.backbones`, ImageNet weights)
gives a stride-16 and a stride-32 feature map; they are computed once and serve every
fold. Each stride-16 cell is described by the fine map, the coarse map (reduced by PCA,
no labels used) and the fine map's 3 x 3 neighbourhood. Per fold, on the training images'
cells only:

- a multinomial logistic regression says which class has its centre in the cell
  (``background``: no box centre there); positives are the cells nearest a box's centre
  (the central part of a large box), negatives a bounded sample of the other cells;
- a ridge regression on the positive cells says where in the cell the centre lies and how
  large the box is (log width and height in cells).

On the held-out images, each local maximum of the object probability (1 - background) is a
box of the likeliest class. The boxes go through the same candidate rules as any
detector's (:func:`annokit.score.detection.from_predictions`): calibrated P(object), as
sure as a typical annotated object, never on or around an annotated or surer candidate
box, a review budget.

Example:
    >>> pred = detect_out_of_fold(ds, folds, seed=0, skipped=[])  # doctest: +SKIP
"""
from __future__ import annotations

import warnings
import weakref
from contextlib import contextmanager

import numpy as np
import pandas as pd

from ..model import Dataset
from .registry import fit_out_of_fold, register

NAME = "centres"        # the family's name: annokit score --model centres

SIDE = 512              # images are resized so that their longer side is at most this
                        # (bccd R@2k 0.43 at 384, 0.46 at 512, 0.44 at 640: baselines/)
COARSE_COMPONENTS = 64  # the stride-32 map (1280 channels) reduced to this many, by PCA
NEGATIVES = 400         # background cells per training image: bounded work per fold
CENTRAL = 0.1           # a cell within this share of the box's size of its centre is positive
MIN_PEAK = 0.05         # peaks with a lower object probability are not predictions
TOP_PEAKS = 30          # peaks kept per image
C_CELLS = 0.05          # inverse regularisation of the cell classifier


def image_maps(ds: Dataset, skipped: list[str], spec: str | None = None) -> dict[int, tuple]:
    """Per readable image position: (fine map C x H x W float32, coarse map float16,
    stride of a fine cell in source pixels (x, y)); one network pass each.

    Example:
        >>> maps = image_maps(ds, [])  # doctest: +SKIP
    """
    from .backbones import _torch, net_for, to_input
    from .features import read_images

    torch = _torch()
    torch.set_num_threads(1)  # one thread: two fight on a busy 2-core machine
    net = net_for(spec)
    widths = ds.images["width"].to_numpy(np.float64, na_value=np.nan)
    heights = ds.images["height"].to_numpy(np.float64, na_value=np.nan)
    out = {}
    for pos, im in read_images(ds, "pretrained feature maps", skipped, SIDE * 2):
        x, _ = to_input(im, SIDE)
        # oneDNN off: it caches kernels per input shape, and images of many sizes grew the
        # process by ~700 MB (raccoon: 1006 MB peak against 467 without; ~1.6x the CPU)
        with torch.inference_mode(), _without_onednn(torch):
            fine, coarse = net.maps(x)
        fine = fine[0].float().numpy()
        # source pixels per fine cell: the declared size (a drafted JPEG decodes smaller)
        width = widths[pos] if np.isfinite(widths[pos]) else im.width
        height = heights[pos] if np.isfinite(heights[pos]) else im.height
        stride = (width / fine.shape[2], height / fine.shape[1])
        out[pos] = (fine.copy(), coarse[0].float().numpy().astype(np.float16), stride)
        del x, fine, coarse
        _give_back_freed()
    return out


@contextmanager
def _without_onednn(torch):
    """oneDNN off for a network pass, without the notice torch prints on switching it
    (about TF32 on Intel GPUs: not the user's to act on)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        flags = torch.backends.mkldnn.flags(enabled=False)
        flags.__enter__()
    try:
        yield
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            flags.__exit__(None, None, None)


def _give_back_freed() -> None:
    """Return freed heap pages to the system (glibc's ``malloc_trim``; elsewhere nothing).
    Each network pass frees large buffers between the small maps kept, and glibc keeps the
    holes: bccd's maps grew the process by 1.2 GB, against 0.3 GB with this."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def grid(maps: dict[int, tuple]) -> dict[int, tuple]:
    """Per image: its fine cells' (rows, columns) and their stride in source pixels.

    Example:
        >>> cells = grid(image_maps(ds, []))  # doctest: +SKIP
    """
    return {p: (fine.shape[1:], stride) for p, (fine, _, stride) in maps.items()}


def cell_features(maps: dict[int, tuple], seed: int = 0) -> dict[int, np.ndarray]:
    """Per image: (H * W, D) float32 features of its fine cells (fine map, coarse map
    reduced by PCA and upsampled, the fine map's 3 x 3 mean), standardised over all cells.
    Empties ``maps`` as it goes: a map's memory is freed once its features are made.

    Example:
        >>> feats = cell_features(image_maps(ds, []))  # doctest: +SKIP
    """
    from sklearn.decomposition import PCA

    if not maps:
        return {}
    rng = np.random.default_rng(seed)
    sample = np.vstack([c.reshape(c.shape[0], -1).T[rng.permutation(c.shape[1] * c.shape[2])[:64]]
                        for _, c, _ in maps.values()]).astype(np.float32)
    n = min(COARSE_COMPONENTS, sample.shape[0] - 1, sample.shape[1])
    pca = PCA(n, svd_solver="randomized", random_state=seed).fit(sample)
    out = {}
    total = squares = np.zeros(0)
    for pos in list(maps):
        fine, coarse, _ = maps.pop(pos)
        _, h, w = fine.shape
        reduced = pca.transform(coarse.reshape(coarse.shape[0], -1).T.astype(np.float32))
        reduced = reduced.T.reshape(n, *coarse.shape[1:])
        rows = np.minimum((np.arange(h) * coarse.shape[1]) // h, coarse.shape[1] - 1)
        cols = np.minimum((np.arange(w) * coarse.shape[2]) // w, coarse.shape[2] - 1)
        up = reduced[:, rows][:, :, cols]
        out[pos] = np.vstack([fine, up, _box_mean(fine)]).reshape(-1, h * w).T \
            .astype(np.float32)
        if not len(total):
            total = squares = np.zeros(out[pos].shape[1])
        total = total + out[pos].sum(axis=0, dtype=np.float64)
        squares = squares + np.square(out[pos], dtype=np.float64).sum(axis=0)
    count = sum(len(f) for f in out.values())
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean ** 2, 0)) + 1e-6
    for f in out.values():  # in place: no second copy of every cell
        f -= mean.astype(np.float32)
        f /= std.astype(np.float32)
    return out


def _box_mean(fmap: np.ndarray) -> np.ndarray:
    """Mean over each cell's 3 x 3 neighbourhood (edges: the cells that exist)."""
    c, h, w = fmap.shape
    padded = np.pad(fmap, ((0, 0), (1, 1), (1, 1)))
    ones = np.pad(np.ones((h, w)), 1)
    total = np.sum([padded[:, dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)],
                   axis=0)
    count = np.sum([ones[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)], axis=0)
    return total / count


def cell_targets(boxes: pd.DataFrame, cells: dict[int, tuple], k: int) -> dict[int, tuple]:
    """Per image: the class of each fine cell (``k``: background; -1: inside a box but off
    its centre, not learnt from) and, per positive cell, the box as (centre offset in
    cells x, y, log width, log height in cells).

    Example:
        >>> targets = cell_targets(boxes, grid(maps), k=3)  # doctest: +SKIP
    """
    by_image = {p: g for p, g in boxes.groupby("pos", sort=False)}
    out = {}
    for pos, ((h, w), (sx, sy)) in cells.items():
        label = np.full(h * w, k, np.int64)
        reg = np.full((h * w, 4), np.nan)
        group = by_image.get(pos)
        if group is not None:
            xywh = group[["x", "y", "w", "h"]].to_numpy(np.float64) / [sx, sy, sx, sy]
            centre = xywh[:, :2] + xywh[:, 2:] / 2
            gx, gy = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
            at = np.c_[gx.ravel(), gy.ravel()]
            # larger boxes first, so a small box's cells win where they meet
            for i in np.argsort(-(xywh[:, 2] * xywh[:, 3])).tolist():
                d = np.abs(at - centre[i]) / xywh[i, 2:]
                inside = (d <= 0.5).all(axis=1)
                near = (d <= CENTRAL).all(axis=1)
                near[np.clip(int(centre[i, 1]), 0, h - 1) * w
                     + np.clip(int(centre[i, 0]), 0, w - 1)] = True
                label[inside & (label == k)] = -1
                label[near] = group["code"].iat[i]
                reg[near] = np.c_[centre[i] - at[near],
                                  np.broadcast_to(np.log(np.maximum(xywh[i, 2:], 0.1)),
                                                  (near.sum(), 2))]
        out[pos] = (label, reg)
    return out


def fit_fold(feats: dict, targets: dict, train: np.ndarray, k: int, seed: int):
    """The cell classifier and the box regressor of one fold, from its training images.

    Example:
        >>> clf, reg = fit_fold(feats, targets, np.array([0, 1]), k=3, seed=0)  # doctest: +SKIP
    """
    return fit_cells(fold_cells(feats, targets, train, k, seed))


def fold_cells(feats: dict, targets: dict, train: np.ndarray, k: int, seed: int) -> tuple:
    """What one fold learns from (:func:`fit_cells`' job): the positive cells and a bounded
    sample of background cells of its training images, drawn by the fold's ``seed``.

    Example:
        >>> job = fold_cells(feats, targets, np.array([0, 1]), k=3, seed=0)  # doctest: +SKIP
    """
    rng = np.random.default_rng(seed)
    x, y, rx, ry = [], [], [], []
    for pos in train.tolist():
        if pos not in feats:
            continue
        label, reg = targets[pos]
        positive = np.flatnonzero((label >= 0) & (label < k))
        background = np.flatnonzero(label == k)
        background = background[rng.permutation(len(background))[:NEGATIVES]]
        rows = np.r_[positive, background]
        x.append(feats[pos][rows])
        y.append(label[rows])
        rx.append(feats[pos][positive])
        ry.append(reg[positive])
    return x, y, rx, ry, seed


def fit_cells(job: tuple):
    """One fold, a pure function (it may run on a worker): the cell classifier and the box
    regressor fitted on :func:`fold_cells`' sample, or None where there is nothing to learn.

    Example:
        >>> x = [np.r_[np.zeros((3, 2)), np.ones((3, 2))]]; y = [np.r_[0, 0, 0, 1, 1, 1]]
        >>> clf, reg = fit_cells((x, y, [x[0][:3]], [np.zeros((3, 4))], 0))
        >>> clf.predict(x[0][[0, 5]]).tolist(), reg.predict(x[0][:1]).shape
        ([0, 1], (1, 4))
    """
    from sklearn.linear_model import LogisticRegression, Ridge

    x, y, rx, ry, seed = job
    if not x or len(np.unique(np.concatenate(y))) < 2:  # no object (or no background) to learn
        return None, None
    clf = LogisticRegression(C=C_CELLS, max_iter=300, random_state=seed) \
        .fit(np.vstack(x), np.concatenate(y))
    reg = Ridge(alpha=10.0).fit(np.vstack(rx), np.vstack(ry)) if len(np.vstack(ry)) > 1 \
        else None
    return clf, reg


def peaks(feats: np.ndarray, shape: tuple[int, int], stride: tuple[float, float], clf, reg,
          k: int, classes: np.ndarray) -> pd.DataFrame:
    """The local maxima of one image's object probability as boxes in source pixels, each
    of its likeliest class with that class's probability as ``score``.

    Example:
        >>> boxes = peaks(feats[0], (18, 24), (26.7, 26.7), clf, reg, 3, classes)  # doctest: +SKIP
    """
    h, w = shape
    if clf is None:
        return pd.DataFrame({"category_id": classes[:0], "x": [], "y": [], "w": [], "h": [],
                             "score": []})
    probs = np.zeros((h * w, k + 1))
    probs[:, clf.classes_] = clf.predict_proba(feats)
    obj = (1 - probs[:, k]).reshape(h, w)
    padded = np.pad(obj, 1, constant_values=-1.0)
    best = np.max([padded[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)], axis=0)
    top = np.flatnonzero(((obj >= best) & (obj >= MIN_PEAK)).ravel())
    top = top[np.argsort(-obj.ravel()[top], kind="stable")[:TOP_PEAKS]]
    cx, cy = top % w + 0.5, top // w + 0.5
    if reg is not None and len(top):
        t = reg.predict(feats[top])
        cx, cy = cx + np.clip(t[:, 0], -2, 2), cy + np.clip(t[:, 1], -2, 2)
        size = np.exp(np.clip(t[:, 2:], -3, 5))
    else:
        size = np.ones((len(top), 2))
    sx, sy = stride
    code = probs[top, :k].argmax(axis=1)
    return pd.DataFrame({"category_id": classes[code],
                         "x": (cx - size[:, 0] / 2) * sx, "y": (cy - size[:, 1] / 2) * sy,
                         "w": size[:, 0] * sx, "h": size[:, 1] * sy,
                         "score": probs[top, code]})


def detect_out_of_fold(ds: Dataset, folds: np.ndarray, seed: int, skipped: list[str],
                       spec: str | None = None) -> Dataset:
    """Fit the cell heads on K-1 folds, predict the K-th; every fold's boxes as a
    predictions Dataset on ``ds``'s ids (scores in ``score``).

    Example:
        >>> pred = detect_out_of_fold(ds, folds, 0, [])  # doctest: +SKIP
    """
    from threadpoolctl import threadpool_limits

    from .detection import box_table

    boxes, classes = box_table(ds)
    with threadpool_limits(1):  # threads fight on a busy 2-core machine (as score() does)
        maps = image_maps(ds, skipped, spec)
        return _predictions(ds, _detect(ds, maps, boxes, classes, folds, seed))


def _detect(ds, maps, boxes, classes, folds, seed) -> pd.DataFrame:
    k = len(classes)
    cells = grid(maps)
    targets = cell_targets(boxes, cells, k)
    feats = cell_features(maps, seed)
    ok = np.zeros(len(ds.images), bool)
    ok[list(cells)] = True
    parts = []

    def job(i, train, _):  # the fold's sample of cells; its models come back
        return fold_cells(feats, targets, train, k, seed * 1000 + i)

    for _, _, judge, (clf, reg) in fit_out_of_fold(fit_cells, job, folds, ok, ok,
                                                   "detector folds"):
        for pos in judge.tolist():
            shape, stride = cells[pos]
            parts.append(peaks(feats[pos], shape, stride, clf, reg, k, classes)
                         .assign(pos=pos))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        {"pos": [], "category_id": [], "x": [], "y": [], "w": [], "h": [], "score": []})


def _predictions(ds: Dataset, found: pd.DataFrame) -> Dataset:
    anns = found.assign(image_id=ds.images["id"].to_numpy()[found["pos"].to_numpy(np.int64)],
                        kind="box").drop(columns="pos")
    return Dataset(ds.categories.copy(), ds.images.copy(), anns, {})


_CACHE: dict = {}  # the last dataset's maps, features and targets, shared by its folds


def _prepared(ds: Dataset) -> tuple:
    """(boxes, classes, cells, targets, features) of ``ds``, computed once for all its folds
    (the registry calls :func:`fit_predict` once per fold)."""
    from .detection import box_table

    held = _CACHE.get("ds")
    if held is None or held() is not ds:
        _CACHE.clear()
        boxes, classes = box_table(ds)
        maps = image_maps(ds, [])
        cells = grid(maps)
        _CACHE.update(ds=weakref.ref(ds), found=(boxes, classes, cells,
                                                 cell_targets(boxes, cells, len(classes)),
                                                 cell_features(maps)))
    return _CACHE["found"]


def fit_predict(ds: Dataset, train: np.ndarray, judge: np.ndarray, seed: int) -> pd.DataFrame:
    """The registered family's one function (:mod:`annokit.score.registry`): fitted on the
    ``train`` images, the boxes it finds on the ``judge`` images.

    Example:
        >>> boxes = fit_predict(ds, np.arange(10), np.arange(10, 12), 0)  # doctest: +SKIP
    """
    boxes, classes, cells, targets, feats = _prepared(ds)
    k = len(classes)
    mine = np.asarray([p for p in np.asarray(train).tolist() if p in cells], np.int64)
    held = [p for p in np.asarray(judge).tolist() if p in cells]
    if not len(mine) or not held:
        return pd.DataFrame(columns=["image_id", "category_id", "x", "y", "w", "h", "score"])
    clf, reg = fit_fold(feats, targets, mine, k, seed)
    found = pd.concat([peaks(feats[p], cells[p][0], cells[p][1], clf, reg, k, classes)
                       .assign(pos=p) for p in held], ignore_index=True)
    return _predictions(ds, found).annotations.drop(columns="kind")


register(NAME, "detection", fit_predict)
