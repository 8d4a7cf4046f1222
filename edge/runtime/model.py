"""Load the board's model for the runtime: ``edge.infer.EcgModel`` plus the metadata check.

``edge.infer`` picks the interpreter (LiteRT if present, else tflite-runtime, else
tensorflow.lite) and reads the metadata JSON beside the ``.tflite``; here the model is
checked against the board's DSP settings, so a model trained for other settings is
refused before any frame is read, with the field named.
"""

from __future__ import annotations

import logging
from pathlib import Path

from cardioradar.errors import ConfigError
from edge.dsp.config import DspConfig

log = logging.getLogger(__name__)


def model_path_for(profile, path: str | Path | None = None) -> Path:
    """``path`` if given, else the board profile's model; must exist."""
    p = Path(path) if path is not None else profile.model_path
    if not p.is_file():
        raise ConfigError(f"model {p}: no such file",
                          hint="pass --model PATH, or install the shipped model into boards/models/")
    return p


def load_model(profile, path: str | Path | None = None, dsp_cfg: DspConfig | None = None):
    """The checked ``EcgModel`` for ``profile`` (``path`` overrides the profile's model)."""
    try:
        from edge.infer import EcgModel
    except ModuleNotFoundError as e:
        if e.name != "edge.infer":
            raise
        raise ConfigError("edge.infer is not installed in this tree: no model can be run") from e
    p = model_path_for(profile, path)
    model = EcgModel(p)
    model.check_against(dsp_cfg or DspConfig.from_profile(profile))
    log.info("model %s loaded and checked against board %s", p, profile.name)
    return model
