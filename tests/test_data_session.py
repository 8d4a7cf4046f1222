"""Session datasets: a store written by edge.store + a CSV reference ECG, aligned in time."""

import struct

import numpy as np
import pytest

from cardioradar.errors import ConfigError
from edge.store import SessionWriter
from edge.types import RawFrame
from hardware_sim.record import record_session
from host.data.format import SPLITS, load_split, read_manifest
from host.data.recording import load_sim_recording, recording_windows
from host.data.session_dataset import SessionSource, build_session_dataset, load_session_recording

MAGIC = bytes.fromhex("0201040306050807")
CSV_LEADS = ("I", "II", "V2")


def _packets(data: bytes):
    pos = data.find(MAGIC)
    while 0 <= pos < len(data):
        total = struct.unpack_from("<I", data, pos + 12)[0]
        yield data[pos:pos + total]
        pos += total


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """A 16-s simulator recording archived in a session store, its truth as a CSV."""
    d = tmp_path_factory.mktemp("sess")
    record_session(d / "rec", 16.0, "healthy-rest", seed=5, mode="fast")
    z = np.load(d / "rec" / "truth.npz")
    with SessionWriter(d / "s.db", {"board": "sim", "start_time_utc": "2024-01-01T00:00:00Z"}, timer=False) as w:
        for p in _packets((d / "rec" / "frames.bin").read_bytes()):
            num, cyc = struct.unpack_from("<2I", p, 20)
            w.add_frame(RawFrame(num, cyc, 0.0, p))
    t = np.arange(len(z["ecg_mv"])) / 500.0
    cols = [t] + [z["ecg_mv"][:, ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2").index(k)] for k in CSV_LEADS]
    np.savetxt(d / "ref.csv", np.column_stack(cols), delimiter=",", header="time_s," + ",".join(CSV_LEADS),
               comments="", fmt="%.6f")
    # the session clock starts at the first frame; the CSV starts at sensorStart
    return d, -float(z["frame_times_s"][0])


def test_session_windows_match_the_simulator_truth(session):
    from boards import load_profile
    from edge.dsp.config import DspConfig

    d, offset = session
    cfg = DspConfig.from_profile(load_profile("sim"))
    sim = recording_windows(load_sim_recording(d / "rec"), cfg, 0)
    ses = recording_windows(load_session_recording(d / "s.db", d / "ref.csv", offset), cfg, 0)
    assert len(ses) == len(sim) >= 4
    assert np.array_equal(ses.features_q15, sim.features_q15)  # same packets, same DSP
    for lead in (0, 1, 7):  # I, II, V2 from the CSV
        assert np.nanmax(np.abs(ses.ecg_mv[:, :, lead] - sim.ecg_mv[:, :, lead])) < 0.05
    assert np.isnan(ses.ecg_mv[:, :, 6]).all()  # V1 not in the CSV
    # R peaks found by NeuroKit2 on the reference vs the simulator's R times
    from host.metrics import match_peaks

    def inner(mask):  # a peak within a sample of the window's edge may fall either side of it
        i = np.flatnonzero(mask)
        return i[(i > 1) & (i < len(mask) - 2)] / 100.0

    for k in range(len(ses)):
        m = match_peaks(inner(sim.r_peak_mask[k]), inner(ses.r_peak_mask[k]), 0.02)
        assert m.mdr == 0 and len(m.pred_s) == len(m.true_s), k
    assert np.allclose(ses.window_start_s - sim.window_start_s, offset, atol=1e-3)


def test_frames_bin_and_missing_reference(session):
    d, offset = session
    rec = load_session_recording(d / "rec" / "frames.bin", d / "ref.csv", offset)
    assert rec.n_frames == 1600 and rec.reference.fs_hz == pytest.approx(500.0)
    with pytest.raises(ConfigError, match="reference ECG"):
        load_session_recording(d / "s.db")


def test_session_dataset_split_by_subject(session, tmp_path):
    d, offset = session
    sources = [SessionSource(d / "s.db", d / "ref.csv", name, offset) for name in ("ann", "bob", "cat", "ann")]
    out = build_session_dataset(sources, tmp_path / "ds", seed=1, val_frac=0.34, test_frac=0.34)
    man = read_manifest(out)
    names = {s: {x["id"] for x in man["splits"][s]["subjects"]} for s in SPLITS}
    assert all(len(v) == 1 for v in names.values()) and set().union(*names.values()) == {"ann", "bob", "cat"}
    ids = {s: set(load_split(out, s).subjects().tolist()) for s in SPLITS}
    assert not (ids["train"] & ids["test"] or ids["val"] & ids["test"] or ids["train"] & ids["val"])
    ann = next(s for s in SPLITS if "ann" in names[s])
    assert len(load_split(out, ann)) == 8  # both of ann's sessions in the same split
