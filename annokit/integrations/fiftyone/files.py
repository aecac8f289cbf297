"""The image files behind the samples: which cannot be opened, and sizes from headers."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...fileio import not_regular
from ...formats.layout import header_sizes


def special_files(paths: pd.Series) -> dict[int, str]:
    """Row -> what the file is, for paths that exist but are not regular files (a FIFO,
    a device, a socket, a folder): opening one would hang or fail. Missing files are not
    special (they are listed as missing where their size is needed).

    Example:
        >>> special_files(pd.Series(["/dev/null", None, "/no/such.jpg"]))
        {0: 'a character device, not a regular image file'}
    """
    kinds = {k: not_regular(p) for k, p in enumerate(paths.tolist()) if isinstance(p, str)}
    return {k: f"{kind}, not a regular image file" for k, kind in kinds.items() if kind}


def fill_sizes(images: pd.DataFrame) -> None:
    """Sizes of samples without metadata, from the image headers (``_special`` rows, not
    regular files, are never opened; unreadable ones stay unknown)."""
    unknown = np.flatnonzero(((images["width"].isna() | images["height"].isna())
                              & images["_special"].isna()).to_numpy())
    if not len(unknown):
        return
    widths, heights, found = header_sizes(images["filepath"].iloc[unknown].tolist())
    rows = images.index[unknown[found]]
    images.loc[rows, "width"] = widths[found].astype("int64")
    images.loc[rows, "height"] = heights[found].astype("int64")
