"""CardioRadar edge: contactless 12-lead ECG from a 60 GHz FMCW radar.

This package holds only what every part shares: the error types and the
`cardioradar` command line that dispatches to `hardware_sim`, `edge`, `host`
and `quantize`.
"""

__version__ = "0.1.0"
