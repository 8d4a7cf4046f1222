"""The one JSON cleaner: values as the standard `json` module writes them (strict JSON has no
NaN or Infinity; they become null), numpy scalars and arrays as plain numbers and lists."""

from __future__ import annotations

import math

import numpy as np


def json_clean(x):
    """Nested dicts / lists / tuples / arrays with numpy scalars -> plain JSON values; a
    non-finite float (NaN, inf) -> None. Other values are returned as they are."""
    if isinstance(x, dict):
        return {k: json_clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, np.ndarray)):
        return [json_clean(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, (np.integer, np.bool_)):
        return x.item()
    return x
