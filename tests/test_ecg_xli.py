"""Philips' XLI waveform coding (hardware_sim/subject/ecg_files/xli.py): the coder here is
written from the same public description (sierra-ecg-tools, SPxml's libsierraecg) the other
way round, and real strips go through it and back exactly; random bytes never crash the
decoder; and the real Philips Sierra ECG of the suite decodes to the values sierra-ecg-tools'
own tests state for it, with its 1 mV calibration pulse at 200 steps of 5 uV."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware_sim.subject.ecg_files import load_ecg_recording, xli
from hardware_sim.subject.types import LEADS
from xli_coder import lzw10_compress, xli_encode

DATA = Path(__file__).parent / "data"
SUITE = DATA / "ecg-suite"
SIERRA = SUITE / "philips-sierra_129DYPRG_12lead_10s_500hz.xml"
STRIP = load_ecg_recording(DATA / "ecg" / "ecg-plot_12lead_10s_500hz.csv", fs_hz=500.0).ecg_mv


# ---- round trips ---------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
def test_lzw_round_trip(data):
    assert xli.lzw10_expand(lzw10_compress(data)) == data


def test_lzw_full_table_and_the_string_being_defined():
    """'aaaa...' uses each code the step it is defined; 40 kB of varied bytes fill the
    table (codes up to 1022), after which it stays as it is."""
    assert xli.lzw10_expand(lzw10_compress(b"a" * 1000)) == b"a" * 1000
    data = np.random.default_rng(5).integers(0, 40, 40000, dtype=np.uint8).tobytes()
    assert xli.lzw10_expand(lzw10_compress(data)) == data


def test_a_real_strip_codes_and_decodes_exactly():
    counts = np.round(STRIP * 200).astype(np.int64)  # 5 uV steps
    leads = xli.restore_limb_leads(xli.decode_chunks(xli_encode(list(counts.T))))
    assert len(leads) == 12
    np.testing.assert_array_equal(np.stack(leads, axis=1), counts)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_decode_or_raise_xli_error(data):
    try:
        leads = xli.decode_chunks(data)
    except xli.XliError:
        return
    assert all(x.dtype == np.int16 for x in leads)


# ---- the real file ---------------------------------------------------------------------------
def test_the_real_sierra_ecg_decodes_to_sierra_ecg_tools_values():
    """129DYPRG.XML (Philips Sierra ECG 1.03, XLI): sample 2750 of each lead as
    sierra-ecg-tools' pysierraecg/tests/test_xml.py states it; 16 chunks of 5500 samples
    (12 valid leads); the calibration pulse 200 steps = 1 mV at 5 uV; the reader drops that
    tail and scales by the file's signalresolution."""
    import base64
    import xml.etree.ElementTree as ET

    if not SIERRA.exists():
        pytest.skip("real-record suite absent")
    wf = next(e for e in ET.parse(SIERRA).getroot().iter() if e.tag.endswith("parsedwaveforms"))
    chunks = xli.decode_chunks(base64.b64decode("".join(wf.text.split())))
    assert [c.size for c in chunks] == [5500] * 16
    leads = xli.restore_limb_leads(chunks[:12])
    want = [-9, -17, -7, 13, -1, -12, 0, -1, -3, -4, -7, -6]
    assert [int(x[2750]) for x in leads] == want
    assert all((x[5350:5450] == 200).all() and not x[5300:5350].any() for x in leads)
    rec = load_ecg_recording(SIERRA)
    assert rec.ecg_mv.shape == (5264, 12)
    np.testing.assert_allclose(rec.ecg_mv[2750], np.array(want) * 5e-3)
