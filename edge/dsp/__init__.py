"""Fixed-point radar DSP for the board: one module per stage, each numba kernel beside
its float64 reference. ``pipeline.DspPipeline`` chains them (frames in, model windows out).
The kernels run JIT-compiled by numba or, on the board, compiled ahead of time from the same
source without loading numba (``backend``, built by ``python -m edge.dsp.aot``).

Stages and number formats (see each module):
  calibrate      int16 I/Q x Q1.14 gain          -> int16 I/Q
  beamform       int16 I/Q x Q15 steering        -> int32 I/Q, Q.4 (input LSB x 16, summed over antennas)
  cordic         int32 I/Q                       -> int32 magnitude (same units), int32 phase BAM (2**31 = pi)
  unwrap         int32 BAM                       -> int32 phase Q7.24 half-turns (modular over 256 pi)
  differentiator int32 (any Q)                   -> int32, 16*dt**2 * f'' in the input's Q (exact)
  biquad         int32 x Q2.29 sections          -> int32 (same Q), breathing suppression / band energies
  select         int64 band energies             -> voxel choice with hysteresis (float decision)
  normalize      int32 per window                -> int16 Q15 ((x - mean) / (4 rms), saturated)
  tensor         int16 Q15                       -> int8 with the model's scale / zero point
  vitals         classical HR / BR from the best voxel (float64, runs once per hop)
"""
