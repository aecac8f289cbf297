"""annokit <-> FiftyOne: browse what annokit flagged in the App, bring the fixes back.

FiftyOne is imported here only, and only when one of these functions runs
(``pip install 'annokit[fiftyone]'``).

What a FiftyOne dataset built by :func:`to_fiftyone` holds (see docs/fiftyone.md):

sample fields   ``filepath`` (absolute), ``metadata`` (width, height), ``annokit_id`` (the
                image id), ``file_name``, ``split``, ``quality`` (the scorer's image
                quality), ``n_findings`` and ``findings`` (their lines), the images'
                pass-through columns, and tags
                ``annokit:<check-id>`` for every check that flagged the image
``ground_truth`` Detections: relative [x, y, w, h] boxes, ``label``, ``annokit_id`` (the
                annotation id), the annotation's attributes (VOC ``difficult``..., COCO
                extras), ``confidence`` (a ground-truth score), ``quality``, ``issue``,
                ``suggested_label``, ``findings`` and tags ``annokit:<check-id>`` /
                ``annokit:issue:<type>``
``segmentations`` Polylines (COCO polygons), ``points`` Keypoints (centre points),
                ``labels`` Classifications (image-level labels), ``predictions``
                Detections, ``overlooked`` Detections (the scorer's candidate missing objects)
``info['annokit']`` what the way back needs: categories with their ids, column dtypes,
                the image root and the source's meta

Modules, one concern each (none imports FiftyOne until a function runs):

``database``   starting FiftyOne's database, dataset names, a dataset named only when whole
``app``        the App: launch, serve until Ctrl-C/SIGTERM, close
``build``      :func:`to_fiftyone`, from ``tables`` (pandas), ``documents`` (FiftyOne's stored
               layout as dicts) and ``store`` (schema, insert, saved views)
``read``       :func:`from_fiftyone`
``scores``     the scorer's result laid onto the dataset
``provenance`` what a dataset was built from, which an export never writes over
``fields``, ``files``  names shared both ways; which image files cannot be opened

Samples are written in bulk: plain documents in FiftyOne's stored layout, inserted in
batches through FiftyOne internals kept in one function (``store._insert_documents``; its
docstring says what it is measured to save). ``bulk=False`` takes FiftyOne's public
``add_samples`` path instead; the tests check that both give the same dataset. The only
other call below FiftyOne's public API deletes a dataset whose creation a signal cut short
(``database._delete_stored``).
"""
from .app import close_app, exposure_warning, launch, serve
from .build import to_fiftyone
from .database import check_name, default_name, load
from .fields import (BATCH, BUILDING, EXTRA, GT, INFO, LABELS, OVERLOOKED, POINTS, PRED,
                     REVIEWED, SEG, TAG, WORST_VIEW, summary_line)
from .provenance import protected_paths
from .read import from_fiftyone
from .scores import load_scores

__all__ = ["BATCH", "BUILDING", "EXTRA", "GT", "INFO", "LABELS", "OVERLOOKED", "POINTS", "PRED",
           "REVIEWED", "SEG", "TAG", "WORST_VIEW", "check_name", "close_app", "default_name",
           "exposure_warning", "from_fiftyone", "launch", "load", "load_scores",
           "protected_paths", "serve", "summary_line", "to_fiftyone"]
