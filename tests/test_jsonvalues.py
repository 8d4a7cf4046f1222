"""The one JSON cleaner (`cardioradar.jsonvalues.json_clean`): what strict JSON cannot hold."""

import json
import math

import numpy as np

from cardioradar.jsonvalues import json_clean


def test_non_finite_become_null_numpy_becomes_plain():
    x = {"a": math.nan, "b": [np.float32(1.5), np.inf, -math.inf], "c": (np.int64(3), np.bool_(True)),
         "d": np.array([0.25, np.nan]), "e": "text", "f": None, "g": 7}
    out = json_clean(x)
    assert out == {"a": None, "b": [1.5, None, None], "c": [3, True], "d": [0.25, None], "e": "text", "f": None,
                   "g": 7}
    assert type(out["b"][0]) is float and type(out["c"][0]) is int
    json.dumps(out, allow_nan=False)  # strict JSON: would raise on a NaN left behind
