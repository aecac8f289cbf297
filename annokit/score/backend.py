"""PyTorch for the CNN family and the embeddings, imported only when asked for."""
from __future__ import annotations

from typing import Any

from ..errors import AnnokitError


def require_torch() -> Any:  # Any: classes subclass its nn.Module inside functions
    """Return the ``torch`` module, or raise one line saying how to install it.

    Example:
        >>> torch = require_torch()  # doctest: +SKIP
    """
    try:
        import torch
    except ImportError:
        raise AnnokitError("--model cnn needs PyTorch: pip install 'annokit[torch]' (the "
                           "CPU-only wheel is enough: pip install torch --index-url "
                           "https://download.pytorch.org/whl/cpu)") from None
    return torch
