"""Export round trips: write a session with known ECG, export EDF+ / WFDB / CSV, read it
back with pyedflib / wfdb / csv and compare values (within the format's resolution),
gaps and annotations. The EDF+ header is also parsed by hand (fixed-width fields) to
check it is standard, not just readable by the library that wrote it. MNE is not
installed here and was not checked."""

from __future__ import annotations

import csv
import shutil
import datetime as dt
import json
import math

import numpy as np
import pytest

from cardioradar import __version__
from cardioradar.cli import main
from cardioradar.errors import ConfigError, InputDataError
from edge.store import SessionWriter
from edge.types import LEADS, BeatRecord, EcgBlock, SessionEvent, VitalsRecord
from host.export import export_session
from host.export.edf_out import DIGITAL_MAX, physical_range_mv
from host.export.plan import make_plan

FS = 500
START = "2024-03-01T22:15:30+00:00"
N_TOTAL = int(9.5 * FS)  # grid 0 .. 9.5 s (origin = session start)


def truth_ecg() -> tuple[np.ndarray, np.ndarray]:
    """(ecg_mv (N_TOTAL, 12) float32 with NaN where no value, reason per sample)."""
    t = np.arange(N_TOTAL) / FS
    ecg = (2.5 * np.sin(2 * np.pi * 1.2 * t)[:, None] * np.linspace(-1, 1, 12)[None, :]
           + 0.3 * np.cos(2 * np.pi * 7 * t)[:, None]).astype(np.float32)
    reason = np.zeros(N_TOTAL, dtype="<U9")
    reason[:FS] = "no data"  # the first block starts at 1 s
    reason[4 * FS:5 * FS] = "excluded"
    reason[7 * FS:8 * FS] = "no data"  # a disconnect
    reason[int(2.2 * FS):int(2.2 * FS) + 5] = "no value"
    ecg[reason != ""] = np.nan
    return ecg, reason


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "night1.db"
    ecg, _ = truth_ecg()
    meta = {"board": "sim", "model": "cr-unet", "model_sha256": "0f" * 32, "subject_id": "S042",
            "start_time_utc": START}
    with SessionWriter(path, meta, timer=False) as w:
        for k in range(1, 10):  # 1-s blocks from 1 s; the last is 0.5 s
            if k == 7:
                continue
            a, b = k * FS, min((k + 1) * FS, N_TOTAL)
            block = ecg[a:b].copy()
            if k == 4:
                block[:] = 9.0  # excluded: whatever the model said must not be exported
            w.add_ecg_block(EcgBlock(float(k), float(FS), block, excluded=(k == 4)))
        w.add_beats([BeatRecord(1.1 + 0.8 * i, 0.8, 75.0, 0.9) for i in range(10)])
        w.add_vitals([VitalsRecord(5.0, 75.0, 13.0, 0.8, "classical")])
        w.add_event(SessionEvent(0.0, "session", "start"))
        w.add_event(SessionEvent(7.0, "disconnect", "radar port lost", duration_s=1.0))
        w.add_event(SessionEvent(3.3, "drop", "frames lost", count=4))
        w.add_event(SessionEvent(1.5, "af", "AF episode 5 s (max score 0.90)", duration_s=5.0))  # edge.rhythm.AfTracker
        w.add_event(SessionEvent(2.5, "marker", LONG_NOTE))
    return path


LONG_NOTE = "subject got up to the bathroom; back in bed 02:10, lights on in the corridor (tester: A. Rossi)"


def beat_times() -> np.ndarray:
    return 1.1 + 0.8 * np.arange(10)


def test_edf_round_trip(session, tmp_path):
    import pyedflib

    out = export_session(session, "edf", tmp_path / "n.edf")
    ecg, reason = truth_ecg()
    r = pyedflib.EdfReader(str(out))
    try:
        assert r.signals_in_file == 12 and r.getSignalLabels() == [f"ECG {lead}" for lead in LEADS]
        assert r.getFileDuration() == 10 and r.datarecord_duration == 1
        assert r.getStartdatetime() == dt.datetime(2024, 3, 1, 22, 15, 30)
        assert r.getPatientCode() == "S042" and r.getEquipment() == "CardioRadar sim"  # "_" in the file
        step = physical_range_mv_of(r) / DIGITAL_MAX
        for i in range(12):
            assert r.getPhysicalDimension(i) == "mV" and r.getSampleFrequency(i) == FS
            x = r.readSignal(i)
            assert len(x) == 10 * FS
            ok = reason == ""
            assert np.max(np.abs(x[:N_TOTAL][ok] - ecg[ok, i])) <= step / 2 + 1e-6
            assert np.all(x[:N_TOTAL][~ok] == 0.0) and np.all(x[N_TOTAL:] == 0.0)  # documented fill
        onsets, durations, texts = r.readAnnotations()
    finally:
        r.close()
    notes = list(zip(onsets.round(4), durations.round(4), texts))
    beats = np.array([o for o, _, t in notes if t == "R"])
    assert np.allclose(beats, beat_times(), atol=1e-4)
    for expected in [(0.0, 1.0, "ECG gap: no data"), (2.2, 0.01, "ECG gap: no value"),
                     (4.0, 1.0, "ECG gap: excluded"), (7.0, 1.0, "ECG gap: no data"),
                     (9.5, 0.5, "ECG gap: padding"), (7.0, 1.0, "disconnect: radar port lost"),
                     (3.3, -1.0, "drop: frames lost"), (0.0, -1.0, "session: start"),
                     (1.5, 5.0, "af: AF episode 5 s (max score 0.90)")]:
        assert expected in notes, expected


def physical_range_mv_of(r) -> float:
    assert r.getPhysicalMaximum(0) == -r.getPhysicalMinimum(0)
    return r.getPhysicalMaximum(0)


def test_edf_header_is_standard(session, tmp_path):
    out = export_session(session, "edf", tmp_path / "n.edf")
    raw = out.read_bytes()
    head = raw[:256].decode("ascii")
    assert all(32 <= b < 127 for b in raw[:256])
    fields = {}
    pos = 0
    for name, width in [("version", 8), ("patient", 80), ("recording", 80), ("startdate", 8),
                        ("starttime", 8), ("header_bytes", 8), ("reserved", 44), ("n_records", 8),
                        ("record_s", 8), ("ns", 4)]:
        fields[name] = head[pos:pos + width]
        pos += width
    assert pos == 256 and fields["version"] == "0       "
    assert fields["patient"].split()[:4] == ["S042", "X", "X", "X"]  # EDF+: code sex birthdate name
    assert fields["recording"].startswith("Startdate 01-MAR-2024 ") and "CardioRadar_sim" in fields["recording"]
    assert (fields["startdate"], fields["starttime"]) == ("01.03.24", "22.15.30")
    assert fields["reserved"].startswith("EDF+C")
    ns, n_records = int(fields["ns"]), int(fields["n_records"])
    assert int(fields["header_bytes"]) == 256 * (ns + 1) and n_records == 10 and float(fields["record_s"]) == 1
    sig = raw[256:256 * (ns + 1)].decode("ascii")
    cols, pos = {}, 0
    for name, width in [("label", 16), ("transducer", 80), ("dimension", 8), ("pmin", 8), ("pmax", 8),
                        ("dmin", 8), ("dmax", 8), ("prefilter", 80), ("spr", 8), ("reserved", 32)]:
        cols[name] = [sig[pos + i * width:pos + (i + 1) * width].strip() for i in range(ns)]
        pos += width * ns
    assert cols["label"][:12] == [f"ECG {lead}" for lead in LEADS]
    assert set(cols["label"][12:]) == {"EDF Annotations"} and ns > 12
    assert set(cols["dimension"][:12]) == {"mV"} and set(cols["spr"][:12]) == {str(FS)}
    assert {int(v) for v in cols["dmax"][:12]} == {DIGITAL_MAX} and {int(v) for v in cols["dmin"][:12]} == {-DIGITAL_MAX}
    rng = float(cols["pmax"][0])
    assert float(cols["pmin"][0]) == -rng and rng >= np.nanmax(np.abs(truth_ecg()[0]))
    record_bytes = 2 * sum(int(s) for s in cols["spr"])
    assert len(raw) == 256 * (ns + 1) + n_records * record_bytes
    # the first TAL of record 0 is its time stamp "+0\x14\x14" (EDF+ time-keeping annotation),
    # offset by the sub-second start
    tal = raw[256 * (ns + 1) + 2 * 12 * FS:][:16]
    assert tal.startswith(b"+0") and b"\x14\x14" in tal


def test_wfdb_round_trip(session, tmp_path):
    import wfdb

    hea = export_session(session, "wfdb", tmp_path / "wf" / "n1")
    assert hea.name == "n1.hea" and (tmp_path / "wf" / "n1.dat").stat().st_size == N_TOTAL * 12 * 2
    ecg, reason = truth_ecg()
    rec = wfdb.rdrecord(str(tmp_path / "wf" / "n1"))
    assert rec.fs == FS and rec.sig_name == list(LEADS) and rec.units == ["mV"] * 12
    assert rec.p_signal.shape == (N_TOTAL, 12) and rec.fmt == ["16"] * 12
    ok = reason == ""
    assert np.max(np.abs(rec.p_signal[ok] - ecg[ok])) <= 0.5 / 1000 + 1e-6
    assert np.isnan(rec.p_signal[~ok]).all()  # gaps come back as NaN, not as a made-up value
    assert rec.base_datetime == dt.datetime(2024, 3, 1, 22, 15, 30)
    qrs = wfdb.rdann(str(tmp_path / "wf" / "n1"), "qrs")
    assert np.array_equal(qrs.sample, np.round(beat_times() * FS).astype(int)) and set(qrs.symbol) == {"N"}
    evt = wfdb.rdann(str(tmp_path / "wf" / "n1"), "evt")
    notes = list(zip(evt.sample.tolist(), evt.aux_note))
    for expected in [(0, "session: start"), (0, "ECG gap: no data 1s"), (1100, "ECG gap: no value 0.01s"),
                     (1650, "drop: frames lost"), (2000, "ECG gap: excluded 1s"),
                     (3500, "disconnect: radar port lost"), (3500, "ECG gap: no data 1s"),
                     (750, "af: AF episode 5 s (max score 0.90)")]:
        assert expected in notes, expected


def test_csv_round_trip(session, tmp_path):
    out = export_session(session, "csv", tmp_path / "n.csv")
    ecg, reason = truth_ecg()
    with open(out) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["time_s", *LEADS] and len(rows) == N_TOTAL + 1
    t = np.array([float(r[0]) for r in rows[1:]])
    assert np.allclose(t, np.arange(N_TOTAL) / FS)
    cells = np.array([r[1:] for r in rows[1:]])
    ok = reason == ""
    assert (cells[~ok] == "").all()  # gaps: empty cells
    assert np.max(np.abs(cells[ok].astype(float) - ecg[ok])) <= 5e-7 + 1e-6
    with open(tmp_path / "n_beats.csv") as f:
        beats = list(csv.DictReader(f))
    assert np.allclose([float(b["t_s"]) for b in beats], beat_times())
    with open(tmp_path / "n_events.csv") as f:
        events = [(float(e["t_s"]), e["kind"], e["detail"]) for e in csv.DictReader(f)]
    assert (4.0, "gap", "excluded") in events and (7.0, "disconnect", "radar port lost") in events
    assert (1.5, "af", "AF episode 5 s (max score 0.90)") in events
    with open(tmp_path / "n_vitals.csv") as f:
        assert next(csv.DictReader(f))["source"] == "classical"


def test_plan_finds_gaps_and_range(session):
    from edge.store import SessionReader

    with SessionReader(session) as r:
        plan = make_plan(r)
    assert (plan.origin_s, plan.fs_hz, plan.n_samples) == (0.0, FS, N_TOTAL)
    assert [(g.start, g.n, g.reason) for g in plan.gaps] == [
        (0, 500, "no data"), (1100, 5, "no value"), (2000, 500, "excluded"), (3500, 500, "no data")]
    assert physical_range_mv(plan) == math.ceil(np.nanmax(np.abs(truth_ecg()[0])) * 2) / 2


def test_cli_export_and_its_errors(session, tmp_path, capsys):
    out = tmp_path / "cli.edf"
    assert main(["export", str(session), "--format", "edf", "--out", str(out)]) == 0
    assert out.stat().st_size > 0 and capsys.readouterr().out.strip() == str(out)
    out_csv = tmp_path / "cli.csv"
    assert main(["export", str(session), "--format", "csv", "--out", str(out_csv), "--json"]) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last == {"session": str(session), "format": "csv", "out": str(out_csv)} and out_csv.stat().st_size > 0
    empty = tmp_path / "empty.db"
    SessionWriter(empty, {}, timer=False).close()
    assert main(["export", str(empty), "--format", "csv"]) == InputDataError.exit_code
    assert "no ECG blocks" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="format"):
        export_session(session, "mat")
    with pytest.raises(SystemExit):
        main(["export", str(session), "--format", "mat"])


def test_sub_second_start_shifts_the_grid_to_a_whole_second(tmp_path):
    import pyedflib

    path = tmp_path / "s.db"
    ecg = np.full((FS, 12), 1.5, np.float32)
    with SessionWriter(path, {"start_time_utc": "2024-03-01T23:59:59.750+00:00"}, timer=False) as w:
        w.add_ecg_block(EcgBlock(1.0, float(FS), ecg))
    r = pyedflib.EdfReader(str(export_session(path, "edf")))
    try:
        assert r.getStartdatetime() == dt.datetime(2024, 3, 1, 23, 59, 59)  # 0.75 s before t_s = 0
        x = r.readSignal(0)
    finally:
        r.close()
    first = int(1.75 * FS)
    assert np.all(x[:first] == 0) and np.allclose(x[first:first + FS], 1.5, atol=1e-4)


def test_default_output_paths_sit_beside_the_session(session):
    for fmt, name in [("edf", "night1.edf"), ("wfdb", "night1.hea"), ("csv", "night1.csv")]:
        assert export_session(session, fmt).name == name


def test_edf_keeps_full_texts_and_the_model(session, tmp_path):
    """EDF+ annotations used to be cut at 40 characters (edflib's limit): a marker's note lost
    its end and the model's SHA-256 had no room. Read back with pyedflib."""
    import pyedflib

    out = export_session(session, "edf", tmp_path / "n.edf")
    r = pyedflib.EdfReader(str(out))
    try:
        texts = list(r.readAnnotations()[2])
        recording = r.getRecordingAdditional()
    finally:
        r.close()
    assert f"marker: {LONG_NOTE}" in texts and len(LONG_NOTE) > 40
    assert f"CardioRadar software {__version__}, model cr-unet sha256 {'0f' * 32}" in texts
    assert "sha256_0f0f0f0f0f0f0f0f" in out.read_bytes()[88:168].decode("ascii")  # the header's recording field
    assert "sw_" in recording and "sha256_" in recording
    evt = tmp_path / "wf" / "n"
    export_session(session, "wfdb", evt)
    import wfdb

    assert f"marker: {LONG_NOTE}" in wfdb.rdann(str(evt), "evt").aux_note


def test_edf_annotations_never_dropped_when_many():
    from host.export.edf_out import _tal, pack_annotations

    notes = [(i * 0.01, 0.0, f"note {i}") for i in range(1000)] + [(1.5, 2.0, "x" * 300)]
    cap, per = pack_annotations(sorted(notes), 2)
    flat = [b for rec in per for b in rec]
    assert sorted(flat) == sorted(_tal(*n) for n in notes)
    assert all(len(f"+{k}".encode()) + 3 + sum(map(len, rec)) <= cap for k, rec in enumerate(per))
    assert all(float(b[1:b.index(b"\x14")].split(b"\x15")[0]) < 1.0 for b in per[0])  # none before its time


def test_mne_reads_the_leads_as_ecg(session, tmp_path):
    """MNE calls every EDF channel EEG unless told to read the type from the label
    (``infer_types=True``): our labels follow the EDF+ standard "ECG <lead>"."""
    mne = pytest.importorskip("mne", reason="MNE is in the dev extra only")
    out = export_session(session, "edf", tmp_path / "n.edf")
    assert set(mne.io.read_raw_edf(out, verbose="error").get_channel_types()) == {"eeg"}  # MNE's default
    raw = mne.io.read_raw_edf(out, infer_types=True, preload=True, verbose="error")
    assert raw.ch_names == list(LEADS)
    assert set(raw.get_channel_types()) == {"ecg"}
    assert raw.info["sfreq"] == FS
    assert f"marker: {LONG_NOTE}" in list(raw.annotations.description)
    ecg, reason = truth_ecg()
    ok = reason == ""
    x = raw.get_data(units="mV")  # (12, n)
    from edge.store import SessionReader

    with SessionReader(session) as r:
        step = physical_range_mv(make_plan(r)) / DIGITAL_MAX
    assert np.max(np.abs(x[:, :N_TOTAL][:, ok] - ecg[ok].T)) <= step / 2 + 1e-6


def test_wfdb_names_with_a_dot_or_space(session, tmp_path):
    """wfdb refused a record name with a space (ValueError, a traceback) and a dot turned
    'night.1' into 'night.dat'; the name is now made valid, and said so in the .hea path."""
    import wfdb

    odd = tmp_path / "night 1.2.db"
    shutil.copy(session, odd)
    hea = export_session(odd, "wfdb")
    assert hea == tmp_path / "night_1_2.hea" and (tmp_path / "night_1_2.dat").exists()
    rec = wfdb.rdrecord(str(hea.with_suffix("")))
    assert rec.p_signal.shape == (N_TOTAL, 12)
    hea = export_session(session, "wfdb", tmp_path / "out dir" / "rec.v2")
    assert hea == tmp_path / "out dir" / "rec_v2.hea"
    assert wfdb.rdann(str(hea.with_suffix("")), "qrs").sample.size == 10


def _damage_block(path, t0_s: float, how: str) -> None:
    """What a bad card sector does to a stored block: flip one byte, or cut the blob short."""
    import sqlite3

    con = sqlite3.connect(path)
    blob = bytearray(con.execute("SELECT ecg FROM ecg_blocks WHERE t0_s = ?", (t0_s,)).fetchone()[0])
    blob = blob[:-7] if how == "cut" else blob[:100] + bytes([blob[100] ^ 0x40]) + blob[101:]
    con.execute("UPDATE ecg_blocks SET ecg = ? WHERE t0_s = ?", (bytes(blob), t0_s))
    con.commit()
    con.close()


def test_damaged_blocks_are_found_and_exported_as_gaps(session, tmp_path, capsys):
    """A damaged block used to crash the EDF+ export and pass silently into CSV/WFDB/report
    (a flipped bit is still a float). Now: a CRC-32 per block; the block becomes a gap
    "damaged" with an annotation in every format; ecg_blocks() refuses it by name."""
    import pyedflib
    import wfdb

    from edge.store import DAMAGED, SessionReader

    path = tmp_path / "bad.db"
    shutil.copy(session, path)
    _damage_block(path, 2.0, "flip")  # same length: only the checksum can tell
    _damage_block(path, 5.0, "cut")
    with SessionReader(path) as r:
        s = r.ecg(0.0, N_TOTAL)
        assert (s.status[2 * FS:3 * FS] == DAMAGED).all() and (s.status[5 * FS:6 * FS] == DAMAGED).all()
        assert np.isnan(s.ecg_mv[2 * FS:3 * FS]).all()
        with pytest.raises(InputDataError, match=r"t0_s=2.0: damaged \(CRC-32"):
            list(r.ecg_blocks(1.5, 2.5))
    edf = export_session(path, "edf", tmp_path / "bad.edf")
    er = pyedflib.EdfReader(str(edf))
    try:
        notes = list(zip(er.readAnnotations()[0].round(4), er.readAnnotations()[1].round(4), er.readAnnotations()[2]))
        x = er.readSignal(1)
    finally:
        er.close()
    assert (2.0, 1.0, "ECG gap: damaged") in notes and (5.0, 1.0, "ECG gap: damaged") in notes
    assert np.all(x[2 * FS:3 * FS] == 0.0)  # the documented fill, not the damaged values
    export_session(path, "wfdb", tmp_path / "bad")
    rec = wfdb.rdrecord(str(tmp_path / "bad"))
    assert np.isnan(rec.p_signal[2 * FS:3 * FS]).all()
    assert (2 * FS, "ECG gap: damaged 1s") in zip(wfdb.rdann(str(tmp_path / "bad"), "evt").sample.tolist(),
                                                  wfdb.rdann(str(tmp_path / "bad"), "evt").aux_note)
    export_session(path, "csv", tmp_path / "bad.csv")
    with open(tmp_path / "bad_events.csv") as f:
        assert (2.0, "gap", "damaged") in [(float(e["t_s"]), e["kind"], e["detail"]) for e in csv.DictReader(f)]


def test_sessions_without_checksums_stay_readable(session, tmp_path):
    """Sessions written before the crc32 column: read as before; a cut blob is still found."""
    import sqlite3

    from edge.store import DAMAGED, VALID, SessionReader

    path = tmp_path / "old.db"
    shutil.copy(session, path)
    con = sqlite3.connect(path)
    con.execute("ALTER TABLE ecg_blocks DROP COLUMN crc32")
    con.commit()
    con.close()
    _damage_block(path, 2.0, "flip")  # undetectable without a checksum: read as it is
    _damage_block(path, 5.0, "cut")
    with SessionReader(path) as r:
        s = r.ecg(0.0, N_TOTAL)
    assert (s.status[2 * FS:3 * FS] == VALID).all() and (s.status[5 * FS:6 * FS] == DAMAGED).all()
    assert export_session(path, "edf", tmp_path / "old.edf").stat().st_size > 0
