"""FMCW front end of the simulated module: chirp timing, ADC-level IF synthesis,
the on-chip fixed-point range FFT, and a fast analytic mode with the same output.

    profile = boards.load_profile("sim")
    fe = FrontEnd(load_cfg(profile.cfg_path), profile.antennas, mode="adc", seed=1)
    heat = fe.frame(scene, frame_index=0, t_frame_s=0.0, bins=np.arange(7, 22))  # (15, 12, 2) int16
"""

from .chirp import ArrayGeometry, ChirpTiming
from .engine import MODES, FrontEnd
from .noise import NoiseSettings
from .rangefft import RangeFftTables, range_fft_fixed, range_fft_float, sqnr_db

__all__ = [
    "ArrayGeometry",
    "ChirpTiming",
    "FrontEnd",
    "MODES",
    "NoiseSettings",
    "RangeFftTables",
    "range_fft_fixed",
    "range_fft_float",
    "sqnr_db",
]
