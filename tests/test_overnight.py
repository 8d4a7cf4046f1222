"""`cardioradar report SESSION --overnight`: the night's multi-page PDF.

The 10-min session is made as a board makes one: a `sim record` stream (fast front end)
through the edge runtime's core (``edge.runtime.replay``) with the shipped int8 model, into
a real session file; two markers are added as the live page adds them (events of kind
"marker"). The 8-h night (slow) is written row by row (ECG blocks, beats, vitals, events),
since running the runtime over 8 h of frames takes too long for a test; it checks the page
count and that the report's memory does not grow with the night.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cardioradar.cli import main
from cardioradar.errors import ConfigError
from edge.types import LEADS, BeatRecord, EcgBlock, SessionEvent, VitalsRecord

MARKERS = ((120.0, "lights off"), (450.0, "subject got up"))


def pdf_pages(path: Path) -> int:
    """Pages of a PDF: pdfinfo when installed, else the page objects matplotlib writes."""
    if shutil.which("pdfinfo"):
        out = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
        return int(re.search(r"^Pages:\s+(\d+)", out, re.M).group(1))
    return len(re.findall(rb"/Type\s*/Page\b", path.read_bytes()))


def pdf_text(path: Path) -> str | None:
    if not shutil.which("pdftotext"):
        return None
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def ten_minutes(tmp_path_factory):
    from boards import load_profile
    from cardioradar import __version__
    from edge.dsp.config import DspConfig
    from edge.link import DecoderConfig, FrameDecoder
    from edge.runtime.core import EdgeCore
    from edge.runtime.model import load_model, model_path_for
    from edge.runtime.replay import frames_bin_chunks, replay_stream
    from edge.store import SessionWriter
    from hardware_sim.record import record_session

    d = tmp_path_factory.mktemp("overnight")
    record_session(d / "rec", 600.0, "healthy-rest", seed=2, mode="fast")
    profile = load_profile("sim")
    cfg = DspConfig.from_profile(profile)
    mpath = model_path_for(profile, None)
    core = EdgeCore(cfg, load_model(profile, mpath, cfg))
    path = d / "night.db"
    meta = {"board": profile.name, "model": mpath.name, "model_sha256": "ab" * 32, "subject_id": "S7",
            "software_version": __version__, "start_time_utc": "2026-03-01T22:59:30+01:00"}
    with SessionWriter(path, meta, timer=False) as w:
        markers = list(MARKERS)

        def put(o):
            if o.raw is not None:
                return
            if o.result is not None:
                while markers and markers[0][0] <= o.result.block.t0_s:
                    t, text = markers.pop(0)
                    w.add_event(SessionEvent(t, "marker", text))
                w.add_ecg_block(o.result.block)
                w.add_beats(o.result.beats)
                w.add_vitals([o.result.vitals])
            if o.event is not None:
                w.add_event(o.event)

        replay_stream(frames_bin_chunks(d / "rec" / "frames.bin"), FrameDecoder(DecoderConfig.from_profile(profile)),
                      core, put)
    return path


def test_overnight_pdf_of_ten_minutes_as_the_docs_say(ten_minutes, capsys):
    # as docs/runtime.md tells a user: `cardioradar report SESSION --overnight` (PDF beside it)
    assert main(["report", str(ten_minutes), "--overnight", "--json"]) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    pdf = Path(last["report"])
    assert pdf == ten_minutes.with_name("night_overnight.pdf") and pdf.read_bytes()[:5] == b"%PDF-"
    # summary + the night at a glance + (trends + 12 leads) for the one hour + events
    assert last["pages"] == 5 and pdf_pages(pdf) == 5
    assert 590 <= last["duration_s"] <= 600 and last["recorded_s"] > 500
    assert math.isclose(last["recorded_s"] + last["excluded_s"] + last["missing_s"], last["duration_s"], abs_tol=0.05)
    text = pdf_text(pdf)
    if text is not None:
        for want in ("CardioRadar overnight report", "Heart rate", "AF (screening)", "The night at a glance",
                     "Hour 1: 12-lead ECG", "25 mm/s, 10 mm/mV", "Events and markers", "lights off",
                     "subject got up", "SHA-256 abababababab", "22:59:30"):
            assert want in text, want
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
        assert "841.89 x 595.276 pts (A4)" in info  # landscape A4

    # never over an earlier report, unless --force
    before = pdf.stat().st_mtime_ns
    assert main(["report", str(ten_minutes), "--overnight"]) == ConfigError.exit_code
    err = capsys.readouterr().err
    assert "night_overnight.pdf" in err and "--force" in err and "Traceback" not in err
    assert pdf.stat().st_mtime_ns == before
    assert main(["report", str(ten_minutes), "--overnight", "--force", "--paper", "letter"]) == 0
    assert pdf_pages(pdf) == 5 and pdf.stat().st_mtime_ns != before


def test_overnight_refuses_bad_outputs(ten_minutes, tmp_path, capsys):
    for args, want in ((["--out", str(tmp_path / "r.png")], "expected a .pdf file"),
                       (["--truth", str(tmp_path / "t.npz")], "--truth: not used with --overnight")):
        assert main(["report", str(ten_minutes), "--overnight", *args]) == ConfigError.exit_code
        assert want in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_cleanest_strip_and_statistics(ten_minutes):
    from edge.store import VALID, SessionReader
    from host.overnight import summarise

    with SessionReader(ten_minutes) as r:
        s, beats, vitals, _ = summarise(r)
        h = s.hours[0]
        assert h.strip_valid_frac == 1.0
        assert np.all(r.ecg(h.strip_t0_s, 1000).status == VALID)
    assert s.n_beats == len(beats) and 55 <= s.hr_bpm.median <= 80  # healthy-rest: 60-80 bpm
    assert 10 <= s.br_bpm.median <= 25
    assert s.ibi_ms.n == sum(np.isfinite(b.rr_s) for b in beats)


def _write_night(path: Path, hours: float, seed: int = 0) -> None:
    """A night row by row: 2.56-s ECG blocks of a 60-70 bpm beat, one stretch excluded every
    20 min, a 10-min disconnect at 3 h, a 20-min AF episode at 5 h, markers, drop bursts."""
    from edge.store import SessionWriter

    rng = np.random.default_rng(seed)
    fs, n = 100.0, 256
    gains = np.linspace(0.4, 1.4, len(LEADS), dtype=np.float32)
    with SessionWriter(path, {"board": "sim", "model": "m.tflite", "model_sha256": "cd" * 32,
                              "start_time_utc": "2026-03-01T23:00:00+00:00"}, timer=False) as w:
        t_beat, k = 1.0, 0
        while True:
            t0 = 2.0 + k * n / fs
            if t0 + n / fs > hours * 3600:
                break
            k += 1
            if 3 * 3600 <= t0 < 3 * 3600 + 600:
                continue  # disconnected
            tt = t0 + np.arange(n) / fs
            rr = 60.0 / rng.uniform(60, 70)
            beats = []
            while t_beat < tt[-1]:
                beats.append(t_beat)
                af = 5 * 3600 <= t_beat < 5 * 3600 + 1200
                t_beat += rr * (rng.uniform(0.7, 1.3) if af else 1.0)
            ph = np.min(np.abs(tt[:, None] - np.array(beats[-4:] or [0.0])[None]), axis=1)
            ecg = (np.exp(-(ph / 0.015) ** 2)[:, None] * gains[None]).astype(np.float32)
            excluded = k % 470 == 0
            w.add_ecg_block(EcgBlock(t0, fs, ecg, excluded=excluded))
            if excluded:
                w.add_event(SessionEvent(t0, "exclusion", "lead II below 0.2 mV", duration_s=n / fs))
            w.add_beats([BeatRecord(b, rr, 60 / rr, 0.9) for b in beats if b >= t0])
            w.add_vitals([VitalsRecord(t0 + n / fs, 60 / rr, 14.0, 0.85, "model")])
            if k % 1000 == 0:
                for j in range(5):
                    w.add_event(SessionEvent(t0 + j, "drop", "frames lost", count=3))
        for e in (SessionEvent(3 * 3600, "disconnect", "radar port lost"),
                  SessionEvent(5 * 3600, "af", "AF episode 1200 s (max score 0.95)", duration_s=1200.0),
                  SessionEvent(600, "marker", "lights off"), SessionEvent(4 * 3600 + 17, "marker", "subject got up"),
                  SessionEvent(7.9 * 3600, "marker", "lights on")):
            if e.t_s + e.duration_s < hours * 3600:
                w.add_event(e)


def _report_rss_mb(session: Path, out: Path) -> tuple[float, int]:
    code = ("import json, resource, sys; from host.overnight import make_overnight_report;"
            "_, _, n = make_overnight_report(sys.argv[1], sys.argv[2]);"
            "print(json.dumps([resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, n]))")
    res = subprocess.run([sys.executable, "-c", code, str(session), str(out)], capture_output=True, text=True,
                         check=True)
    rss, n = json.loads(res.stdout.strip().splitlines()[-1])
    return rss, n


@pytest.mark.slow
def test_overnight_pdf_of_an_eight_hour_night(tmp_path):
    _write_night(tmp_path / "one.db", 1.0)
    _write_night(tmp_path / "night.db", 8.0)
    rss_1h, n_1h = _report_rss_mb(tmp_path / "one.db", tmp_path / "one.pdf")
    rss_8h, n_8h = _report_rss_mb(tmp_path / "night.db", tmp_path / "night.pdf")
    assert n_1h == pdf_pages(tmp_path / "one.pdf") == 1 + 1 + 2 + 1
    from edge.store import SessionReader
    from host.overnight import EVENT_ROWS_PER_PAGE, _event_rows

    with SessionReader(tmp_path / "night.db") as r:
        event_pages = math.ceil(len(_event_rows(r.events(), None)) / EVENT_ROWS_PER_PAGE)
    assert event_pages == 2
    assert n_8h == pdf_pages(tmp_path / "night.pdf") == 1 + 1 + 2 * 8 + event_pages
    assert rss_8h < rss_1h + 60, (rss_1h, rss_8h)  # memory bounded: 8x the night, not 8x the memory
    text = pdf_text(tmp_path / "night.pdf")
    if text is not None:
        assert "Hour 8: 12-lead ECG" in text and "subject got up" in text and "burden" in text
        assert "no ECG" in text or "missing" in text
