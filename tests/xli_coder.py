"""Philips' XLI coding written the other way round from the public description the decoder
follows (sierra-ecg-tools, SPxml's libsierraecg): the coder tests/test_ecg_xli.py round-trips
with and tests/test_ecg_xml.py writes XLI files with."""

import numpy as np


def lzw10_compress(data: bytes) -> bytes:
    """10-bit LZW, codes most significant bit first, strings numbered 256-1022, 1023 ends."""
    table = {bytes([i]): i for i in range(256)}
    codes, w = [], b""
    for c in data:
        wc = w + bytes([c])
        if wc in table:
            w = wc
            continue
        codes.append(table[w])
        if len(table) <= 1022:
            table[wc] = len(table)
        w = bytes([c])
    codes += ([table[w]] if w else []) + [1023]
    bits = "".join(format(c, "010b") for c in codes)
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


def xli_chunk(samples) -> bytes:
    """One lead: second differences d[j] = 2 s[j-1] - s[j-2] - s[j] (d[2] in the header,
    d[j] + 64 stored at j - 1), high bytes then low bytes, LZW, the 8-byte header."""
    s = np.asarray(samples, dtype=np.int64)
    d = 2 * s[1:-1] - s[:-2] - s[2:]  # d[2] .. d[n-1]
    values = np.concatenate((s[:2], d[1:] + 64, [0])).astype(np.int16).view(np.uint16)
    raw = bytes((values >> 8).astype(np.uint8)) + bytes((values & 0xFF).astype(np.uint8))
    coded = lzw10_compress(raw)
    return (len(coded).to_bytes(4, "little") + b"\0\0"
            + int(d[0]).to_bytes(2, "little", signed=True) + coded)


def xli_encode(leads) -> bytes:
    """Leads I, II, III, aVR, aVL, aVF, ... (int counts) as Philips codes them: III, aVR,
    aVL, aVF as the rest after what follows from I and II."""
    i, ii, iii, avr, avl, avf = (np.asarray(x, dtype=np.int64) for x in leads[:6])
    half = lambda x: np.trunc(x / 2).astype(np.int64)  # noqa: E731
    rest = [ii - i - iii, -half(i + ii) - avr, half(i - iii) - avl, half(ii + iii) - avf]
    return b"".join(xli_chunk(x) for x in [i, ii, *rest, *leads[6:]])
