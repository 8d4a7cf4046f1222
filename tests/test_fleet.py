"""Scale-out on Ray (issue 14): fleet reprocessing and the distributed data build.

One local Ray with 2 CPUs for the module (started by the fixture, shut down after); the
library's ``host.scale.cluster`` finds it running and uses it, as it would a cluster.
"""

import hashlib
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray")
pytest.importorskip("pyarrow")
pytest.importorskip("tqdm")

import pandas as pd  # noqa: E402

from boards import load_profile  # noqa: E402
from cardioradar.cli import main  # noqa: E402
from cardioradar.errors import ConfigError  # noqa: E402
from edge.runtime.replay import reprocess_session  # noqa: E402
from edge.store import SessionReader  # noqa: E402
from hardware_sim.record import record_session  # noqa: E402
from host.scale.fleet import marker_path, reprocess_fleet  # noqa: E402

NIGHT_SHA: list[str] = []  # night.db's SHA-256 before the fleet ran
SECONDS = 10.0  # two 5.12-s windows after the DSP's warm-up: a few ECG blocks and beats


@pytest.fixture(scope="module")
def fleet_inputs(tmp_path_factory):
    """4 inputs: two `sim record` folders, one session .db (raw archive), one corrupted .db."""
    d = tmp_path_factory.mktemp("fleet-in")
    profile = load_profile("sim")
    for i, preset in enumerate(("healthy-rest", "healthy-rest", "healthy-rest")):
        record_session(d / f"rec{i}", SECONDS, preset, seed=40 + i, mode="fast", board=profile)
    reprocess_session(d / "rec2", d / "night.db", profile)  # a board's session of rec2's bytes
    shutil.rmtree(d / "rec2")
    NIGHT_SHA.append(hashlib.sha256((d / "night.db").read_bytes()).hexdigest())
    shutil.copy(d / "night.db", d / "broken.db")
    with open(d / "broken.db", "r+b") as fh:  # garbage over the middle of the frames table
        fh.seek(fh.seek(0, 2) // 3)
        fh.write(b"\xa5" * 100_000)
    return [d / "rec0", d / "rec1", d / "night.db", d / "broken.db"]


def _ecg(path: Path) -> list[tuple[float, int, bytes]]:
    with SessionReader(path) as r:
        return [(b.t0_s, int(b.excluded), np.asarray(b.ecg_mv, np.float32).tobytes()) for b in r.ecg_blocks()]


@pytest.fixture(scope="module")
def fleet(ray_local, fleet_inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("fleet-out")
    return out, reprocess_fleet([str(p) for p in fleet_inputs], out, progress=False)


def test_ordered_map_keeps_order_and_the_worker_cap(ray_local):
    from host.scale import Cluster

    def timed(item):  # defined here: Ray ships it by value
        import time as t

        k, busy_s = item
        t0 = t.time()
        while t.time() - t0 < busy_s:
            pass
        return k, t0, t.time()

    items = [(0, 0.6), (1, 0.05), (2, 0.05), (3, 0.3)]  # a slow first item: later ones finish first
    for workers in (1, 2):
        got = list(Cluster(None, workers).map_ordered(timed, items))
        assert [k for k, _, _ in got] == [0, 1, 2, 3]
    spans = sorted((a, b) for _, a, b in Cluster(None, 1).map_ordered(timed, items))
    assert all(b0 <= a1 for (_, b0), (a1, _) in zip(spans, spans[1:]))  # one at a time


def test_fleet_gives_the_single_process_ecg_and_reports_the_broken_session(fleet, fleet_inputs, tmp_path):
    out, res = fleet
    assert res.counts == {"sessions": 4, "ok": 3, "reused": 0, "errors": 1}
    rows = {Path(r["source"]).name: r for r in res.rows}
    assert rows["broken.db"]["status"] == "error" and "broken.db" in rows["broken.db"]["error"]
    assert not (out / "broken.db").exists() and not (out / "broken.db.partial").exists()
    profile = load_profile("sim")
    for src in fleet_inputs[:3]:
        name = src.stem if src.suffix == ".db" else src.name
        single = reprocess_session(src, tmp_path / f"{name}.db", profile)  # this process, no Ray
        got = _ecg(out / f"{name}.db")
        assert got and got == _ecg(single.out_path), name
        with SessionReader(out / f"{name}.db") as r:
            meta = r.metadata()
        assert meta["model_sha256"] == single.model_sha256 == rows[src.name]["model_sha256"]
        assert meta["reprocessed_from"] == src.name and meta["closed_cleanly"] is True
        assert rows[src.name]["n_beats"] > 0 and 50 < rows[src.name]["hr_bpm_median"] < 110
    # the original session is untouched; its raw archive replays to the same ECG it holds
    assert hashlib.sha256(fleet_inputs[2].read_bytes()).hexdigest() == NIGHT_SHA[0]
    assert _ecg(out / "night.db") == _ecg(fleet_inputs[2])
    df = pd.read_parquet(out / "fleet_summary.parquet")
    assert list(df["source"]) == [str(p) for p in fleet_inputs]  # the inputs' order
    assert list(df["status"]) == ["ok", "ok", "ok", "error"]
    assert df.loc[0, "recorded_s"] > 0 and df.loc[0, "af_burden"] == 0.0
    assert pd.read_csv(out / "fleet_summary.csv").shape == df.shape
    assert (out / "fleet_summary.png").read_bytes()[:4] == b"\x89PNG"


def test_rerun_skips_finished_sessions(fleet, fleet_inputs):
    out, _ = fleet
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.db")}
    marker_path(out, "rec1").unlink()  # as if the run had died before rec1's marker
    (out / "rec0.db.partial").write_bytes(b"left by a killed run")
    res = reprocess_fleet([str(p) for p in fleet_inputs], out, progress=False)
    rows = {Path(r["source"]).name: r for r in res.rows}
    assert rows["rec0"]["reused"] and rows["night.db"]["reused"] and not rows["rec1"]["reused"]
    assert rows["broken.db"]["status"] == "error"  # a failed one is tried again, and fails again
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("*.db")}
    assert after["rec0.db"] == before["rec0.db"] and after["night.db"] == before["night.db"]
    assert after["rec1.db"] != before["rec1.db"] and marker_path(out, "rec1").is_file()
    assert res.counts == {"sessions": 4, "ok": 3, "reused": 2, "errors": 1}


def test_fleet_cli_as_documented(ray_local, fleet_inputs, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["fleet", "reprocess", str(fleet_inputs[0]), str(fleet_inputs[3]), "--out", str(out),
               "--workers", "2", "--json"])
    assert rc == 1  # one session failed
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["sessions"] == 2 and last["ok"] == 1 and last["errors"] == 1
    assert last["failed"][0]["source"] == str(fleet_inputs[3])
    assert Path(last["summary_parquet"]).is_file() and (out / "rec0.db").is_file()


def test_marker_of_another_model_and_name_clash_are_refused(fleet, fleet_inputs, tmp_path):
    out, _ = fleet
    m = marker_path(out, "rec0")
    row = json.loads(m.read_text())
    (tmp_path / "o").mkdir()
    shutil.copy(m, marker_path(tmp_path / "o", "rec0"))
    marker_path(tmp_path / "o", "rec0").write_text(json.dumps({**row, "model_sha256": "0" * 64}))
    with pytest.raises(ConfigError, match="new --out"):
        reprocess_fleet([str(fleet_inputs[0])], tmp_path / "o", progress=False)
    (tmp_path / "x" / "rec0").mkdir(parents=True)
    with pytest.raises(ConfigError, match="would both write"):
        reprocess_fleet([str(fleet_inputs[0]), str(tmp_path / "x" / "rec0")], tmp_path / "o2", progress=False)


def test_distributed_data_build_equals_the_single_machine_build(ray_local, tmp_path, monkeypatch):
    import host.data.sim_dataset as sim_dataset
    from host.data.sim_dataset import build_sim_dataset

    def no_pool(*a, **k):
        raise AssertionError("--address: the subjects must go to Ray, not to a local process pool")

    monkeypatch.setattr(sim_dataset, "ProcessPoolExecutor", no_pool)
    args = ["--subjects", "3", "--seconds", "8", "--seed", "5", "--val-frac", "0.34", "--test-frac", "0.34"]
    assert main(["data", "build", *args, "--out", str(tmp_path / "ray"), "--address", "local", "--workers", "2"]) == 0
    single = build_sim_dataset(tmp_path / "one", 3, 8.0, 5, workers=1, val_frac=0.34, test_frac=0.34)
    names = sorted(p.name for p in single.iterdir())
    assert names == sorted(p.name for p in (tmp_path / "ray").iterdir()) and "manifest.json" in names
    for name in names:
        assert (tmp_path / "ray" / name).read_bytes() == (single / name).read_bytes(), name


def test_fleet_without_the_scale_extra_names_it(tmp_path):
    import subprocess
    import sys

    code = "import sys\nsys.modules['ray'] = None\nfrom cardioradar.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    r = subprocess.run([sys.executable, "-c", code, "fleet", "reprocess", "x.db", "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "needs the Python package 'ray'" in r.stderr and '.[scale]' in r.stderr
    assert not (tmp_path / "o").exists()


def test_an_address_where_no_head_answers_is_refused_at_once(tmp_path):
    with pytest.raises(ConfigError, match="no Ray head answers"):
        reprocess_fleet(["x.db"], tmp_path / "o", address="127.0.0.1:1", progress=False)
    with pytest.raises(ConfigError, match="expected HOST:PORT"):
        reprocess_fleet(["x.db"], tmp_path / "o", address="nonsense", progress=False)
    assert not (tmp_path / "o").exists()


def test_summary_numbers_do_not_depend_on_the_reading_chunk(fleet, monkeypatch):
    import host.scale.fleet as fleet_mod

    out, _ = fleet
    whole = fleet_mod.session_stats(out / "rec0.db")
    monkeypatch.setattr(fleet_mod, "_STATS_CHUNK_S", 0.7)  # blocks straddle every chunk edge
    assert fleet_mod.session_stats(out / "rec0.db") == whole and whole["recorded_s"] > 5


def test_reprocess_keeps_transport_events_and_markers_not_the_old_results(fleet_inputs, tmp_path):
    from edge.store import SessionWriter
    from edge.types import SessionEvent

    src = tmp_path / "marked.db"
    with SessionReader(fleet_inputs[2]) as r:
        meta = {k: v for k, v in r.metadata().items() if k not in ("closed_cleanly", "end_time_utc")}
        w = SessionWriter(src, {**meta, "technician": "tt"})
        for f in r.frames():
            w.add_frame(f)
    w.add_event(SessionEvent(3.0, "marker", "patient turned"))
    w.add_event(SessionEvent(4.0, "disconnect", "port gone"))
    w.add_event(SessionEvent(4.5, "exclusion", "from the old model"))
    w.close()
    res = reprocess_session(src, tmp_path / "new.db", load_profile("sim"))
    with SessionReader(res.out_path) as r:
        kinds = [(e.kind, e.detail) for e in r.events()]
        meta = r.metadata()
    assert ("marker", "patient turned") in kinds and ("disconnect", "port gone") in kinds
    assert ("exclusion", "from the old model") not in kinds
    assert meta["technician"] == "tt" and meta["reprocessed_from"] == "marked.db"


def test_fleet_joins_a_cluster_started_as_the_docs_say(fleet_inputs, tmp_path):
    """`ray start --head` in its own process group, then the CLI with --address in another
    process (Ray 2.60's head enforces token auth: both get the same token)."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import tempfile

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ray_tmp = tempfile.mkdtemp(prefix="crray")  # short: Ray's socket paths live under it
    env = dict(os.environ, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="cardioradar-test-token",
               RAY_USAGE_STATS_ENABLED="0")
    ray_bin = Path(sys.executable).with_name("ray")
    head = subprocess.Popen([str(ray_bin), "start", "--head", f"--port={port}", "--num-cpus=2",
                             "--node-ip-address=127.0.0.1", "--include-dashboard=false", f"--temp-dir={ray_tmp}",
                             "--block"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out = tmp_path / "out"
        r = None
        for _ in range(60):  # the head takes a few seconds to listen
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert head.poll() is None, head.stderr.read()
                time.sleep(1)
        r = subprocess.run([sys.executable, "-m", "cardioradar", "fleet", "reprocess", str(fleet_inputs[0]),
                            str(fleet_inputs[3]), "--out", str(out), "--address", f"127.0.0.1:{port}", "--json"],
                           env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 1, r.stderr[-2000:]  # the broken one failed
        last = json.loads(r.stdout.strip().splitlines()[-1])
        assert last["ok"] == 1 and last["errors"] == 1 and (out / "rec0.db").is_file()
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(head.pid, signal.SIGKILL)  # what SIGTERM left of the group (gcs_server)
        except ProcessLookupError:
            pass
        shutil.rmtree(ray_tmp, ignore_errors=True)
