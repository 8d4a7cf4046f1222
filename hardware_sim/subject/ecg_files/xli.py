"""Philips XLI waveform coding (Philips Sierra / PageWriter XML, ``compression="XLI"``) ->
int16 samples per lead. Pure bytes in, arrays out; no XML here (``xml`` reads the file).

As sierra-ecg-tools (C. Watford, MIT; its C, Python and JavaScript readers and its wiki)
and SPxml 1.1's libsierraecg describe the coding, the decoded base64 is one chunk per
lead, one after the other:

- an 8-byte header: the chunk's coded length (int32 little-endian), two bytes no reader
  uses, and a start value (int16 little-endian);
- that many bytes of LZW codes: 10 bits each, most significant bit first, codes 0-255 the
  bytes themselves, new strings numbered from 256 up to 1022 (then the table stays as it
  is), 1023 ends the chunk; no clear code;
- the expanded bytes hold n int16 values as n high bytes followed by n low bytes;
- the values are second differences: sample[0] and sample[1] as they are, then
  sample[j] = 2 sample[j-1] - sample[j-2] - d[j], where d[2] is the header's start value
  and d[j] = value[j-1] - 64 after that;
- of the limb leads, III, aVR, aVL and aVF are stored as what is left after the part
  that follows from I and II: III = II - I - r, aVR = -(I + II) / 2 - r,
  aVL = (I - III) / 2 - r, aVF = (II + III) / 2 - r (halves rounded toward zero, as the C
  reader does; its Python sibling floors them, 1 step apart on odd negative sums).

``tests/test_ecg_xli.py``: a coder written from the same description round-trips real
strips exactly, and the real Sierra ECG of the suite decodes to sierra-ecg-tools' own test
values. docs/simulator.md records a one-off check against a PageWriter Touch record that
Philips' software also exported as HL7 aECG.
"""

from __future__ import annotations

import numpy as np

_BITS = 10
_END = (1 << _BITS) - 1  # 1023 ends a chunk
_LAST_CODE = _END - 1  # the table grows to 1022
_HEADER = 8
LIMB_ORDER = ("I", "II", "III", "aVR", "aVL", "aVF")


class XliError(ValueError):
    """The bytes are no XLI coding (the XML reader names the file and field)."""


def lzw10_expand(coded: bytes) -> bytes:
    """The bytes that 10-bit LZW ``coded`` stands for (until code 1023 or its end)."""
    bits = np.unpackbits(np.frombuffer(coded, dtype=np.uint8))
    n = bits.size // _BITS
    codes = bits[:n * _BITS].reshape(n, _BITS) @ (1 << np.arange(_BITS - 1, -1, -1))
    table = [bytes([i]) for i in range(256)]
    out, prev = bytearray(), None
    for code in codes.tolist():
        if code == _END:
            break
        if code < len(table):
            entry = table[code]
        elif code == len(table) and prev is not None:  # the string being defined now
            entry = prev + prev[:1]
        else:
            raise XliError(f"LZW code {code} before it is defined (table of {len(table)})")
        out += entry
        if prev is not None and len(table) <= _LAST_CODE:
            table.append(prev + entry[:1])
        prev = entry
    return bytes(out)


def _undelta(values: np.ndarray, start: int) -> np.ndarray:
    """The second-difference coding undone (module docstring), in int16 arithmetic."""
    v = values.astype(np.int64)
    if v.size < 3:
        return values.astype(np.int16)
    d = np.concatenate(([start], v[2:-1] - 64))  # d[2], d[3], ...
    steps = (v[1] - v[0]) - np.cumsum(d)  # sample[j] - sample[j-1], j >= 2
    out = np.concatenate((v[:2], v[1] + np.cumsum(steps)))
    return out.astype(np.int16)  # wraps like the coder's 16-bit words


def decode_chunks(data: bytes) -> list[np.ndarray]:
    """Each lead's int16 samples, as coded (limb leads not yet restored)."""
    leads, pos = [], 0
    while pos + _HEADER <= len(data):
        size = int.from_bytes(data[pos:pos + 4], "little", signed=True)
        start = int.from_bytes(data[pos + 6:pos + 8], "little", signed=True)
        if size <= 0 or pos + _HEADER + size > len(data):
            raise XliError(f"chunk {len(leads) + 1} says {size} coded bytes, "
                           f"{len(data) - pos - _HEADER} left")
        raw = lzw10_expand(data[pos + _HEADER:pos + _HEADER + size])
        n = len(raw) // 2
        hi = np.frombuffer(raw[:n], dtype=np.uint8).astype(np.uint16)
        lo = np.frombuffer(raw[n:2 * n], dtype=np.uint8).astype(np.uint16)
        leads.append(_undelta(((hi << 8) | lo).view(np.int16), start))
        pos += _HEADER + size
    return leads


def restore_limb_leads(leads: list[np.ndarray]) -> list[np.ndarray]:
    """I, II, III, aVR, aVL, aVF (the first six, coded) -> the leads themselves."""
    i, ii, r3, r_avr, r_avl, r_avf = (x.astype(np.int64) for x in leads[:6])
    half = lambda x: np.trunc(x / 2).astype(np.int64)  # noqa: E731 (C's integer division)
    iii = ii - i - r3
    out = [i, ii, iii, -half(i + ii) - r_avr, half(i - iii) - r_avl, half(ii + iii) - r_avf]
    return [x.astype(np.int16) for x in out] + list(leads[6:])
