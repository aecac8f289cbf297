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
from .features import read_images, stack_rows

SIDE = 224
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
WHAT = ("pass a torchvision/timm ResNet state dict (.pt/.pth, torch.save(model.state_dict())) "
        "or an ONNX file (.onnx)")
RESNETS: dict[tuple[int, ...], str] = {
    (2, 2, 2, 2): "resnet18", (3, 4, 6, 3): "resnet34", (3, 4, 23, 3): "resnet101",
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

    A model that cannot run on a batch of images, or gives NaN, an empty embedding or a
    number of rows other than the batch's, is refused with one line naming the file.

    Example:
        >>> embed(ds, "model.onnx", [])[0].shape  # doctest: +SKIP
        (2062, 512)
    """
    weights = Path(weights)
    run = _onnx(weights) if weights.suffix.lower() == ".onnx" else _resnet(weights)
    ok = np.zeros(len(ds.images), bool)
    rows: dict[int, np.ndarray] = {}
    for pos, batch in _batches(ds, skipped):
        rows.update(zip(pos, _checked(run(batch), len(pos), weights)))
        ok[pos] = True
    return stack_rows(rows, len(ds.images)), ok


def _checked(out, n: int, path: Path) -> np.ndarray:
    """The model's output for a batch of ``n`` as (n, d) float32, or one line on why not."""
    out = np.asarray(out)
    if out.ndim == 0 or out.shape[0] != n:
        raise AnnokitError(f"{path}: the model gave output of shape {tuple(out.shape)} for a "
                           f"batch of {n} images; its first axis must be the batch")
    if out.dtype.kind not in "fiu":
        raise AnnokitError(f"{path}: the model's output is {out.dtype}, not numbers")
    out = out.reshape(n, -1).astype(np.float32)
    if out.shape[1] == 0:
        raise AnnokitError(f"{path}: the model gave an empty (0-wide) embedding")
    if not np.isfinite(out).all():
        raise AnnokitError(f"{path}: the model gave NaN or infinite embeddings")
    return out


MAX_WEIGHTS = 4 << 30  # bytes: a backbone's weights; larger is not what we can run here


def onnx_session(path: Path, what: str = "weights file", hint: str = WHAT):
    """An ONNX Runtime session of the regular file ``path`` (size-capped, read through
    fileio's guard); a damaged file is one line naming only the error's type.

    Example:
        >>> onnx_session(Path("model.onnx")).get_inputs()[0].name  # doctest: +SKIP
        'x'
    """
    from ..fileio import read_regular

    try:
        import onnxruntime
    except ImportError:
        raise AnnokitError(f"{path}: an ONNX model needs onnxruntime: pip install onnxruntime") \
            from None
    data = read_regular(path, limit=MAX_WEIGHTS, what=what)
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: its warnings are not the user's to read
    try:
        return onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as e:  # its message may quote the file: the type only
        raise AnnokitError(f"{path}: not a readable ONNX model ({type(e).__name__}); {hint}") \
            from None


def _onnx(path: Path):
    session = onnx_session(path)
    inputs = session.get_inputs()
    if len(inputs) != 1 or inputs[0].type != "tensor(float)":
        kinds = ", ".join(i.type for i in inputs) or "none"
        raise AnnokitError(f"{path}: the model takes {kinds}; it must take one float32 "
                           f"image batch (n, 3, {SIDE}, {SIDE})")
    shape = inputs[0].shape
    if len(shape) != 4 or any(isinstance(d, int) and d != want
                              for d, want in zip(shape[1:], (3, SIDE, SIDE))):
        raise AnnokitError(f"{path}: the model's input has shape {shape}; it must take "
                           f"(n, 3, {SIDE}, {SIDE}) images")
    name = inputs[0].name

    def run(batch):
        try:
            return session.run(None, {name: batch})[0]
        except Exception as e:  # onnxruntime's own errors: shapes, types, ops
            raise AnnokitError(f"{path}: the model failed on a batch of {len(batch)} images "
                               f"({type(e).__name__}); {WHAT}") from None
    return run


def _tensors(torch, state: dict, path: Path) -> None:
    """Dense floating-point tensors only (BatchNorm's step counters may be integers)."""
    for key, value in state.items():
        if not torch.is_tensor(value):
            raise AnnokitError(f"{path}: {str(key)[:60]} is a {type(value).__name__}, not a "
                               f"tensor; {WHAT}")
        if value.layout != torch.strided:
            raise AnnokitError(f"{path}: {str(key)[:60]} is a sparse tensor; save dense "
                               "weights (tensor.to_dense())")
        if not value.is_floating_point() and not str(key).endswith("num_batches_tracked"):
            raise AnnokitError(f"{path}: {str(key)[:60]} holds {value.dtype} values, not "
                               f"floating-point weights; {WHAT}")
    stem = state["conv1.weight"]
    if stem.ndim != 4 or stem.shape[1] != 3:
        raise AnnokitError(f"{path}: conv1.weight has shape {tuple(stem.shape)}, not a ResNet's "
                           "(64, 3, 7, 7)")


def _resnet(path: Path):
    from ..fileio import open_regular
    from .backend import require_torch

    torch = require_torch()
    with open_regular(path, limit=MAX_WEIGHTS, what="weights file") as f:
        try:
            state = torch.load(f, map_location="cpu", weights_only=True)
        except Exception:
            raise AnnokitError(f"{path}: not a PyTorch state dict; {WHAT}") from None
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    if not isinstance(state, dict) or "conv1.weight" not in state:
        raise AnnokitError(f"{path}: not a ResNet state dict (no conv1.weight); {WHAT}")
    _tensors(torch, state, path)
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
    try:  # strict: a wrong shape or a missing layer is the user's to know, not a guess
        net.load_state_dict({k: v for k, v in state.items() if not k.startswith("fc.")},
                            strict=False)
        missing = [k for k in net.state_dict() if k not in state and not k.startswith("fc.")]
    except RuntimeError as e:
        raise AnnokitError(f"{path}: does not fit {name} "
                           f"({str(e).splitlines()[-1].strip()[:120]})") from None
    if missing:
        raise AnnokitError(f"{path}: lacks {len(missing)} of {name}'s weights (e.g. "
                           f"{missing[0]})")
    net.fc = torch.nn.Identity()
    net.eval()

    def run(batch):
        with torch.no_grad():
            return net(torch.from_numpy(batch)).numpy()
    return run
