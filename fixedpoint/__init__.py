"""Fixed-point primitives (Q formats, rounding, saturation) and coefficient tables: a shared
leaf the board's DSP (``edge.dsp``) and the host tools (``quantize``) both import. It ships to
the board, so it imports nothing of this project but ``cardioradar.errors``."""
