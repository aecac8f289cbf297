"""Image embeddings from local pretrained weights (``--weights``); nothing is downloaded.

``.onnx``            run with onnxruntime; the first output, flattened, is the embedding.
``.pt``/``.pth``     a torchvision ResNet state dict (resnet18/34/50/101/152, as saved by
                     ``torch.save(model.state_dict())``; timm's ResNets use the same keys):
                     the network without its last layer gives the embedding.

Images are resized to 224 px and normalised with the ImageNet mean and deviation.

Example:
    >>> feats, ok = embed(ds, "resnet18.pth", skipped=[])  # doctest: +SKIP
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import AnnokitError
from ..model import Dataset
from .features import read_images

SIDE = 224
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
WHAT = ("pass a torchvision/timm ResNet state dict (.pt/.pth, torch.save(model.state_dict())) "
        "or an ONNX file (.onnx)")
RESNETS = {(2, 2, 2, 2): "resnet18", (3, 4, 6, 3): "resnet34", (3, 4, 23, 3): "resnet101",
           (3, 8, 36, 3): "resnet152"}


def _batches(ds: Dataset, skipped: list[str], size: int = 32):
    """(positions, (n, 3, SIDE, SIDE) float32 array) per batch of readable images."""
    pos, arrays = [], []
    for i, im in read_images(ds, "embedding images", skipped, SIDE * 2):
        im = im.resize((SIDE, SIDE))
        arrays.append(((np.asarray(im, np.float32) / 255 - MEAN) / STD).transpose(2, 0, 1))
        pos.append(i)
        if len(pos) == size:
            yield pos, np.stack(arrays)
            pos, arrays = [], []
    if pos:
        yield pos, np.stack(arrays)


def embed(ds: Dataset, weights: str | os.PathLike, skipped: list[str]
          ) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings (n_images, d) and a mask of the images that could be read.

    Example:
        >>> embed(ds, "model.onnx", [])[0].shape  # doctest: +SKIP
        (2062, 512)
    """
    weights = Path(weights)
    run = _onnx(weights) if weights.suffix.lower() == ".onnx" else _resnet(weights)
    ok = np.zeros(len(ds.images), bool)
    rows: dict[int, np.ndarray] = {}
    for pos, batch in _batches(ds, skipped):
        out = run(batch).reshape(len(pos), -1)
        rows.update(zip(pos, out))
        ok[pos] = True
    dims = len(next(iter(rows.values()))) if rows else 0
    feats = np.zeros((len(ds.images), dims), np.float32)
    for i, v in rows.items():
        feats[i] = v
    return feats, ok


def _onnx(path: Path):
    try:
        import onnxruntime
    except ImportError:
        raise AnnokitError(f"{path}: ONNX weights need onnxruntime: pip install onnxruntime") \
            from None
    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:
        raise AnnokitError(f"{path}: not a readable ONNX model ({e}); {WHAT}") from None
    name = session.get_inputs()[0].name
    return lambda batch: np.asarray(session.run(None, {name: batch})[0], np.float32)


def _resnet(path: Path):
    from .backend import require_torch

    torch = require_torch()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        raise AnnokitError(f"{path}: not a PyTorch state dict; {WHAT}") from None
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    if not isinstance(state, dict) or "conv1.weight" not in state:
        raise AnnokitError(f"{path}: not a ResNet state dict (no conv1.weight); {WHAT}")
    blocks = tuple(len({k.split(".")[1] for k in state if k.startswith(f"layer{i}.")})
                   for i in range(1, 5))
    bottleneck = any(".conv3." in k for k in state)
    name = "resnet50" if bottleneck and blocks == (3, 4, 6, 3) else RESNETS.get(blocks)
    if name is None:
        raise AnnokitError(f"{path}: a ResNet with blocks {blocks} is not one torchvision "
                           f"builds; {WHAT}")
    try:
        import torchvision
    except ImportError:
        raise AnnokitError(f"{path}: state dict weights need torchvision to build {name}: "
                           "pip install torchvision (or export the model to ONNX)") from None
    net = getattr(torchvision.models, name)(weights=None)
    net.load_state_dict(state, strict=False)
    net.fc = torch.nn.Identity()
    net.eval()

    def run(batch):
        with torch.no_grad():
            return net(torch.from_numpy(batch)).numpy()
    return run
