"""The radar module simulator: virtual subjects, scene, FMCW front end at ADC-sample
level, the module's on-chip fixed-point range FFT, and its two serial ports.

Data path: subject -> scene -> frontend -> firmware (config CLI, TLV frames) -> serial.
"""
