"""Fixed-point formats, coefficient tables, SQNR analysis and int8 post-training quantization."""
