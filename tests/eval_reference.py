"""pycocotools run directly on the files: the reference every mAP test compares to."""
from __future__ import annotations

import contextlib
import io

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def cocoeval_reference(gt_file, res_file, iou_type: str) -> tuple[np.ndarray, np.ndarray]:
    """pycocotools on the files, as its README shows: stats, and per-class AP."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(gt_file))
        dt = coco.loadRes(str(res_file))
        e = COCOeval(coco, dt, iou_type)
        e.evaluate()
        e.accumulate()
        e.summarize()
    p = e.eval["precision"][:, :, :, 0, -1]
    per_class = np.array([p[:, :, k][p[:, :, k] > -1].mean() if (p[:, :, k] > -1).any()
                          else np.nan for k in range(p.shape[2])])
    return np.where(e.stats > -1, e.stats, np.nan), per_class
