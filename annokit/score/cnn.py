"""Small CNNs trained from scratch, K-fold, for ``annokit score --model cnn`` (needs torch).

Detection: a fully-convolutional centre-point detector (CenterNet-like): images are
letterboxed to ``DET_SIDE`` px; at stride 4 it predicts a heatmap per class (a Gaussian
peak at each box centre, focal loss), the box's log width/height and the sub-cell centre
offset. Its out-of-fold peaks become predictions that :func:`detection.from_predictions`
scores the annotations against. Classification: a small CNN on ``CLS_SIDE`` px images.

Training is budgeted in iterations (not seconds), so results do not depend on machine
load; CPU by default, the GPU when torch sees one; fixed seeds and deterministic
algorithms give the same ranking run to run on CPU. ``weights=`` (a torchvision/timm
state dict or an ONNX file on disk) gives the classifier pretrained embeddings instead;
nothing is downloaded.

Example:
    >>> pred = detect_out_of_fold(ds, folds, seed=0, skipped=[])  # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..model import Dataset
from ..progress import track
from .backend import require_torch
from .features import read_images
from .registry import out_of_fold

DET_SIDE = 192          # detector input: images letterboxed to this square
STRIDE = 4              # heatmap cell size in input pixels
DET_ITERATIONS = 600    # training steps per fold (batch DET_BATCH); see baselines/
DET_BATCH = 8
TOP_PEAKS = 100         # peaks decoded per image
MIN_PEAK = 0.01         # peaks below this score are not predictions
CLS_SIDE = 64           # classifier input side
CLS_ITERATIONS = 600    # training steps per fold (batch CLS_BATCH)
CLS_BATCH = 32


@dataclass(frozen=True)
class Training:
    """How one fold's network is trained: its seed, its budget of steps, where it runs and
    the progress bar's label.

    Example:
        >>> Training(seed=3, iterations=600, device="cpu", label="fold 1/5").iterations
        600
    """

    seed: int
    iterations: int
    device: Any
    label: str


def _device(torch):
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _seed(torch, seed: int) -> None:
    torch.manual_seed(seed)
    # one CPU thread: the same sums in the same order every run (determinism), and no
    # spinning threads fighting other work on a busy machine (10x slower here)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True, warn_only=True)


# -- images -------------------------------------------------------------------------------

def _load(ds: Dataset, side: int, skipped: list[str], letterbox: bool
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, side, side, 3) uint8 images, per-image scale (input px per source px), ok mask."""
    n = len(ds.images)
    out = np.zeros((n, side, side, 3), np.uint8)
    scale = np.ones(n)
    ok = np.zeros(n, bool)
    for i, im in read_images(ds, "loading images", skipped, side * 2):
        declared = ds.images["width"].iat[i]
        width = float(declared) if pd.notna(declared) else float(im.width)  # type: ignore[arg-type]
        if letterbox:
            s = side / max(im.width, im.height)
            small = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))))
            out[i, :small.height, :small.width] = np.asarray(small)
            scale[i] = s * im.width / width  # drafted JPEGs decode smaller than stored
        else:
            out[i] = np.asarray(im.resize((side, side)))
        ok[i] = True
    return out, scale, ok


# -- detection ----------------------------------------------------------------------------

def _conv(nn, cin, cout, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


def _conv1(nn, cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


def centre_net(classes: int):
    """The centre-point detector: stride-4 heads for heatmaps (``classes``), log size (2)
    and centre offset (2). About 0.15 M parameters.

    Example:
        >>> net = centre_net(3)  # doctest: +SKIP
        >>> [t.shape for t in net(torch.zeros(1, 3, 256, 256))]  # doctest: +SKIP
        [torch.Size([1, 3, 64, 64]), torch.Size([1, 2, 64, 64]), torch.Size([1, 2, 64, 64])]
    """
    torch = require_torch()
    nn = torch.nn

    Module: Any = nn.Module  # torch is Any here: mypy takes no class from a variable

    class CentreNet(Module):
        def __init__(self):
            super().__init__()
            self.s4 = nn.Sequential(_conv(nn, 3, 16, 2), _conv(nn, 16, 24, 2))
            self.s8 = nn.Sequential(_conv(nn, 24, 48, 2), _conv(nn, 48, 48))
            self.s16 = nn.Sequential(_conv(nn, 48, 64, 2), _conv(nn, 64, 64), _conv(nn, 64, 64))
            self.up8 = _conv1(nn, 64 + 48, 48)  # 1x1 fusions: the 3x3 work stays at low res
            self.up4 = nn.Sequential(_conv1(nn, 48 + 24, 32), _conv(nn, 32, 32))
            self.heat = nn.Conv2d(32, classes, 1)
            self.size = nn.Conv2d(32, 2, 1)
            self.offset = nn.Conv2d(32, 2, 1)
            nn.init.constant_(self.heat.bias, -4.6)  # start near p = 0.01 (CenterNet)

        def forward(self, x):
            f4 = self.s4(x)
            f8 = self.s8(f4)
            f16 = self.s16(f8)
            u8 = self.up8(torch.cat([nn.functional.interpolate(f16, scale_factor=2.0), f8], 1))
            u4 = self.up4(torch.cat([nn.functional.interpolate(u8, scale_factor=2.0), f4], 1))
            return self.heat(u4), self.size(u4), self.offset(u4)

    return CentreNet()


def _targets(boxes: pd.DataFrame, n_images: int, classes: int, cells: int, scale: np.ndarray):
    """Dense training targets on the stride-4 grid, built once for all images."""
    heat = np.zeros((n_images, classes, cells, cells), np.float32)
    size = np.zeros((n_images, 2, cells, cells), np.float32)
    offset = np.zeros((n_images, 2, cells, cells), np.float32)
    mask = np.zeros((n_images, cells, cells), np.float32)
    pos = boxes["pos"].to_numpy()
    s = scale[pos][:, None] / STRIDE
    xywh = boxes[["x", "y", "w", "h"]].to_numpy() * s
    centre = xywh[:, :2] + xywh[:, 2:] / 2
    cell = np.clip(np.floor(centre).astype(np.int64), 0, cells - 1)
    sigma = np.maximum(np.sqrt(xywh[:, 2] * xywh[:, 3]) / 6, 0.5)
    grid = np.arange(cells)
    codes = boxes["code"].to_numpy()
    for i in range(len(boxes)):  # target painting: once per box, before training
        gx = np.exp(-((grid - centre[i, 0]) ** 2) / (2 * sigma[i] ** 2))
        gy = np.exp(-((grid - centre[i, 1]) ** 2) / (2 * sigma[i] ** 2))
        p, c = pos[i], codes[i]
        np.maximum(heat[p, c], np.outer(gy, gx), out=heat[p, c])
        heat[p, c, cell[i, 1], cell[i, 0]] = 1.0
        size[p, :, cell[i, 1], cell[i, 0]] = np.log(np.maximum(xywh[i, 2:], 0.25))
        offset[p, :, cell[i, 1], cell[i, 0]] = centre[i] - cell[i]
        mask[p, cell[i, 1], cell[i, 0]] = 1.0
    return heat, size, offset, mask


def _focal(torch, logits, target):
    """CenterNet's penalty-reduced focal loss, normalised by the number of objects."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    peak = target.eq(1).float()
    pos = -torch.log(p) * (1 - p) ** 2 * peak
    neg = -torch.log(1 - p) * p ** 2 * (1 - target) ** 4 * (1 - peak)
    return (pos.sum() + neg.sum()) / peak.sum().clamp(min=1)


def _train_detector(torch, images, targets, train_idx, classes, run: Training):
    _seed(torch, run.seed)
    device, iterations = run.device, run.iterations
    net = centre_net(classes).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=iterations,
                                                pct_start=0.1)
    rng = np.random.default_rng(run.seed)
    heat, size, offset, mask = targets
    net.train()
    for _ in track(range(iterations), run.label, total=iterations, min_items=1):
        batch = rng.choice(train_idx, DET_BATCH, replace=len(train_idx) < DET_BATCH)
        x = torch.from_numpy(images[batch]).to(device).permute(0, 3, 1, 2).float() / 255
        t = [torch.from_numpy(a[batch]).to(device) for a in (heat, size, offset, mask)]
        if rng.random() < 0.5:  # horizontal flip: the picture and every target with it
            x, t = _hflip(torch, x, t)
        h, s, o = net(x)
        m = t[3].unsqueeze(1)
        loss = (_focal(torch, h, t[0])
                + ((s - t[1]).abs() * m).sum() / m.sum().clamp(min=1) * 0.5
                + ((o - t[2]).abs() * m).sum() / m.sum().clamp(min=1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return net.eval()


def _hflip(torch, x, t):
    """Flip images and targets left-right; the stride-4 grid covers the input exactly."""
    heat, size, offset, mask = t
    offset = offset.flip(-1).clone()
    offset[:, 0] = torch.where(mask.flip(-1) > 0, 1 - offset[:, 0], offset[:, 0])
    return x.flip(-1), [heat.flip(-1), size.flip(-1), offset, mask.flip(-1)]


def _decode(torch, net, images, idx, scale, device, classes_ids) -> pd.DataFrame:
    """Peaks of the out-of-fold heatmaps as boxes in source pixels (one row per peak)."""
    rows = []
    with torch.no_grad():
        for start in range(0, len(idx), 16):
            part = idx[start:start + 16]
            x = torch.from_numpy(images[part]).to(device).permute(0, 3, 1, 2).float() / 255
            h, s, o = net(x)
            h = torch.sigmoid(h)
            peaks = h * (torch.nn.functional.max_pool2d(h, 3, 1, 1) == h)
            n, c, gh, gw = peaks.shape
            score, flat = peaks.reshape(n, -1).topk(min(TOP_PEAKS, c * gh * gw), dim=1)
            cls, cell = flat // (gh * gw), flat % (gh * gw)
            cy, cx = cell // gw, cell % gw
            size = s.reshape(n, 2, -1).gather(2, cell.unsqueeze(1).expand(-1, 2, -1)).exp()
            off = o.reshape(n, 2, -1).gather(2, cell.unsqueeze(1).expand(-1, 2, -1))
            for j, p in enumerate(part.tolist()):
                keep = (score[j] >= MIN_PEAK).cpu().numpy()
                k = STRIDE / scale[p]
                w, hh = (size[j, 0].cpu().numpy() * k), (size[j, 1].cpu().numpy() * k)
                px = (cx[j].cpu().numpy() + off[j, 0].cpu().numpy()) * k
                py = (cy[j].cpu().numpy() + off[j, 1].cpu().numpy()) * k
                rows.append(pd.DataFrame({
                    "pos": p, "category_id": classes_ids[cls[j].cpu().numpy()],
                    "x": px - w / 2, "y": py - hh / 2, "w": w, "h": hh,
                    "score": score[j].cpu().numpy().astype(np.float64)})[keep])
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def _side(ds: Dataset) -> int:
    """DET_SIDE, or less for small images (never upscaled): a multiple of 32."""
    largest = pd.concat([ds.images["width"], ds.images["height"]]).max()
    if pd.isna(largest):
        return DET_SIDE
    return int(min(DET_SIDE, max(64, -(-int(largest) // 32) * 32)))


def detect_out_of_fold(ds: Dataset, folds: np.ndarray, seed: int, skipped: list[str],
                       iterations: int | None = None) -> Dataset:
    """Train the centre-point detector on K-1 folds, predict the K-th; all folds' peaks
    as a predictions Dataset (scores in ``score``) aligned with ``ds``'s ids.

    Example:
        >>> pred = detect_out_of_fold(ds, folds, 0, [], iterations=200)  # doctest: +SKIP
    """
    from .detection import box_table

    torch = require_torch()
    device = _device(torch)
    boxes, classes = box_table(ds)
    images, scale, ok = _load(ds, _side(ds), skipped, letterbox=True)
    targets = _targets(boxes[ok[boxes["pos"].to_numpy()]], len(images), len(classes),
                       images.shape[1] // STRIDE, scale)
    iterations = iterations or DET_ITERATIONS
    parts = []
    fold_ids = np.unique(folds[ok])
    for i, train, judge in out_of_fold(folds, ok, ok, "folds"):
        run = Training(seed * 1000 + i, iterations, device,
                       f"fold {i + 1}/{len(fold_ids)}: training")
        net = _train_detector(torch, images, targets, train, len(classes), run)
        parts.append(_decode(torch, net, images, judge, scale, device, classes))
    found = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        {"pos": [], "category_id": [], "x": [], "y": [], "w": [], "h": [], "score": []})
    anns = found.assign(image_id=ds.images["id"].to_numpy()[found["pos"].to_numpy(np.int64)],
                        kind="box").drop(columns="pos")
    return Dataset(ds.categories.copy(), ds.images.copy(), anns, {})


# -- classification -----------------------------------------------------------------------

def small_classifier(classes: int):
    """A small CNN classifier (four conv stages, global average pooling).

    Example:
        >>> net = small_classifier(10)  # doctest: +SKIP
    """
    torch = require_torch()
    nn = torch.nn
    return nn.Sequential(
        _conv(nn, 3, 24, 2), _conv(nn, 24, 32), _conv(nn, 32, 48, 2), _conv(nn, 48, 64),
        _conv(nn, 64, 96, 2), _conv(nn, 96, 128), _conv(nn, 128, 160, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(160, classes))


def _train_classifier(torch, images, y, train_idx, multi, run: Training):
    _seed(torch, run.seed)
    device, iterations = run.device, run.iterations
    net = small_classifier(y.shape[1]).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=iterations,
                                                pct_start=0.15)
    rng = np.random.default_rng(run.seed)
    target = torch.from_numpy(y.astype(np.float32)).to(device)
    net.train()
    pad = CLS_SIDE // 8
    for _ in track(range(iterations), run.label, total=iterations, min_items=1):
        batch = rng.choice(train_idx, CLS_BATCH, replace=len(train_idx) < CLS_BATCH)
        x = torch.from_numpy(images[batch]).to(device).permute(0, 3, 1, 2).float() / 255
        # random shifts: pad and crop back (cheap, and the label does not change)
        dx, dy = rng.integers(0, 2 * pad + 1, 2)
        x = torch.nn.functional.pad(x, (pad, pad, pad, pad), mode="replicate")
        x = x[:, :, dy:dy + CLS_SIDE, dx:dx + CLS_SIDE]
        out = net(x)
        t = target[batch]
        loss = (torch.nn.functional.binary_cross_entropy_with_logits(out, t) if multi else
                torch.nn.functional.cross_entropy(out, t.argmax(1), label_smoothing=0.1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return net.eval()


def _predict(torch, net, images, idx, multi, device) -> np.ndarray:
    out = []
    with torch.no_grad():
        for start in range(0, len(idx), 64):
            x = torch.from_numpy(images[idx[start:start + 64]]).to(device)
            logits = net(x.permute(0, 3, 1, 2).float() / 255)
            out.append((torch.sigmoid(logits) if multi else torch.softmax(logits, 1))
                       .cpu().numpy())
    return np.vstack(out).astype(np.float64)


def classify_out_of_fold(ds: Dataset, y: np.ndarray, folds: np.ndarray, multi: bool, seed: int,
                         skipped: list[str], iterations: int | None = None) -> np.ndarray:
    """Out-of-fold class probabilities (n_images, n_classes) from the small CNN. NaN rows
    for unread images (``--weights`` embeddings go to the classic head: annokit.score).

    Example:
        >>> probs = classify_out_of_fold(ds, y, folds, False, 0, [])  # doctest: +SKIP
    """
    torch = require_torch()
    device = _device(torch)
    images, _, ok = _load(ds, CLS_SIDE, skipped, letterbox=False)
    probs = np.full(y.shape, np.nan)
    labelled = ok & (y.sum(axis=1) > 0)
    fold_ids = np.unique(folds[ok])
    for i, train, judge in out_of_fold(folds, labelled, ok, "folds"):
        run = Training(seed * 1000 + i, iterations or CLS_ITERATIONS, device,
                       f"fold {i + 1}/{len(fold_ids)}: training")
        net = _train_classifier(torch, images, y, train, multi, run)
        probs[judge] = _predict(torch, net, images, judge, multi, device)
    return probs

