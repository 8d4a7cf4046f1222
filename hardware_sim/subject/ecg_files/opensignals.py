"""OpenSignals text files (PLUX's acquisition software for BITalino and biosignalsplux) ->
(n, k) mV, lead names, rate: '# OpenSignals Text File Format', a '# {json}' header line
(per device: its columns, the analog channels' labels and sensors, the sampling rate and
resolution), '# EndOfHeader', then tab-separated raw ADC rows. The ECG sensor channels are
converted by the device family's transfer function as PLUX's own biosignalsnotebooks
(``conversion.raw_to_phy``) and opensignalsreader (``transfer_functions.bit.ecg``) state it:
mV = (ADC / 2^n - 1/2) * VCC / G, VCC 3.0 V and G 1.019 (V -> mV folded in) for the
biosignalsplux family, VCC 3.3 V and G 1.1 for BITalino. OpenSignals names no lead: the
first ECG channel is lead II (the single-lead contract), further ones are left out."""

from __future__ import annotations

import json
from pathlib import Path

from hardware_sim.subject.ecg_files.common import _bad, _no_ecg_lead, log

MAGIC = "# OpenSignals Text File Format"
# device -> (VCC in V, gain with the V -> mV factor folded in), from biosignalsnotebooks'
# raw_to_phy('ECG', device, ..., option='mV')
_ECG_TRANSFER = {
    **{d: (3.0, 1.019) for d in ("bioplux", "bioplux_exp", "biosignalsplux", "rachimeter",
                                  "channeller", "swifter", "ddme_openbanplux")},
    **{d: (3.3, 1.1) for d in ("bitalino", "bitalino_rev", "bitalino_riot")},
}


def is_opensignals(head: str) -> bool:
    return head.lstrip("\ufeff").startswith(MAGIC)


def _sensor_kind(sensor: str) -> str:
    """'ECGBITREV', 'ECGBIT', 'ECG' -> 'ECG' (BITalino sensors carry a board suffix, which
    opensignalsreader strips the same way)."""
    return str(sensor).upper().replace("BITREV", "").replace("BIT", "")


def _load_opensignals(path: Path, text: str, rows: list[list[str]], first_line: int):
    """``text``: the file's text; ``rows``: its data rows as strings (comment lines out),
    the first at file line ``first_line``."""
    from hardware_sim.subject.ecg_files.text import _to_array

    lines = text.splitlines()
    try:
        header = json.loads(lines[1].lstrip("#").strip())
        devices = list(header.items())
        assert devices and all(isinstance(v, dict) for _, v in devices)
    except (IndexError, ValueError, AssertionError):
        raise _bad(path, "line 2", "the OpenSignals header ('# {...}' JSON of each device)",
                   repr(lines[1][:60]) if len(lines) > 1 else "no line 2") from None
    columns, ecg, rates = [], [], set()
    for mac, dev in devices:
        where = f"device {mac}"
        cols = [str(c) for c in dev.get("column", [])]
        labels = [str(c) for c in dev.get("label", [])]
        sensors = [str(c) for c in dev.get("sensor", [])]
        res = list(dev.get("resolution", []))
        for i, (label, sensor) in enumerate(zip(labels, sensors)):
            if _sensor_kind(sensor) != "ECG":
                continue
            device = str(dev.get("device", ""))
            if device not in _ECG_TRANSFER:
                raise _bad(path, f"{where} 'device'", f"a device whose ECG transfer function "
                           f"is known ({', '.join(_ECG_TRANSFER)})", repr(device))
            if dev.get("convertedValues"):
                raise _bad(path, f"{where} 'convertedValues'", "0 (raw ADC values; a file "
                           "of converted values states no unit)", dev["convertedValues"])
            if label not in cols:
                raise _bad(path, f"{where} 'label'", f"a column of {cols}", repr(label))
            # BITalino lists a resolution per column, biosignalsplux one per channel
            n_bits = res[cols.index(label)] if len(res) == len(cols) else (
                res[i] if len(res) == len(labels) else None)
            if not isinstance(n_bits, int) or not 1 <= n_bits <= 24:
                raise _bad(path, f"{where} 'resolution'", f"the bits of channel {label!r} (one "
                           f"per column or per channel)", res)
            ecg.append((len(columns) + cols.index(label), f"{mac} {label}", n_bits, device))
            rates.add(float(dev.get("sampling rate", 0)))
        columns += [f"{mac} {c}" for c in cols]
    if not ecg:
        raise _no_ecg_lead(path, "sensors", [s for _, d in devices for s in d.get("sensor", [])])
    if len(rates) != 1 or not next(iter(rates)) > 0:
        raise _bad(path, "'sampling rate'", "one positive rate for the ECG channels",
                   sorted(rates))
    data = _to_array(path, rows, columns, first_line, set(),
                     frozenset(range(len(columns))) - {j for j, *_ in ecg})
    j, label, n_bits, device = ecg[0]
    if len(ecg) > 1:
        log.info("%s: OpenSignals ECG channel %r read as lead II; ECG channels %s left out",
                 path, label, [lab for _, lab, _, _ in ecg[1:]])
    vcc, gain = _ECG_TRANSFER[device]
    return (data[:, j:j + 1] / 2.0 ** n_bits - 0.5) * vcc / gain, ["II"], next(iter(rates))
