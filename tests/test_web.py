"""The live web view of `edge run --web`: access rules, a never-blocking queue, the marker
round trip (page -> runtime -> session -> EDF+/WFDB annotations), and the page itself in a
real headless Chromium (skipped, with the reason, where no Chromium is installed)."""

import asyncio
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

aiohttp = pytest.importorskip("aiohttp", reason="the web view needs the 'edge' extra (aiohttp)")

from cardioradar.errors import ConfigError  # noqa: E402
from edge.web import WebConfig, WebView, clean_marker, parse_address  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _wait(cond, timeout_s=60.0, what="condition"):
    t_end = time.monotonic() + timeout_s
    while not (v := cond()):
        assert time.monotonic() < t_end, f"{what} not reached in {timeout_s} s"
        time.sleep(0.02)
    return v


def _get(url, headers=None):
    async def go():
        async with aiohttp.ClientSession() as s:
            async with s.get(url, headers=headers or {}) as r:
                return r.status, await r.text()

    return asyncio.run(go())


def _post(url, body):
    async def go():
        async with aiohttp.ClientSession() as s:
            async with s.post(url, data=body, headers={"Content-Type": "application/json"}) as r:
                text = await r.text()
                return r.status, (json.loads(text) if r.content_type == "application/json" else text)

    return asyncio.run(go())


# --- addresses, marker texts -------------------------------------------------------------------

def test_address_forms_and_errors():
    assert parse_address("8750") == ("127.0.0.1", 8750)
    assert parse_address("0.0.0.0:8080") == ("0.0.0.0", 8080)
    assert parse_address("[::1]:9000") == ("::1", 9000)
    for bad in ("", "x", "host:", "1:70000", "-1"):
        with pytest.raises(ConfigError, match=r"--web: expected \[HOST:\]PORT"):
            parse_address(bad)


def test_cli_bad_web_address_is_one_line(tmp_path):
    env = dict(os.environ, CARDIORADAR_LOCK_DIR=str(tmp_path / "locks"))
    r = subprocess.run([sys.executable, "-m", "cardioradar", "edge", "run", "--web", "1:99999", "--session",
                        str(tmp_path / "s.db"), "--seconds", "1"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=180)
    errors = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    assert r.returncode == 2 and errors == ["error: --web: expected [HOST:]PORT with PORT 0..65535, got '1:99999'"]
    assert "Traceback" not in r.stderr and not (tmp_path / "s.db").exists()


def test_marker_text_is_one_clean_line():
    assert clean_marker("  lights\toff\n") == "lights off"
    assert clean_marker("Zimmer 3: Licht aus ✓") == "Zimmer 3: Licht aus ✓"
    for bad, msg in ((" \n ", "got none"), ("x" * 201, "at most 200"), (None, "expected a string")):
        with pytest.raises(ConfigError, match=msg):
            clean_marker(bad)


# --- access ------------------------------------------------------------------------------------

def test_loopback_serves_without_token_but_refuses_foreign_host_and_origin():
    with WebView(WebConfig(port=0)) as view:
        assert view.token is None and view.url == f"http://127.0.0.1:{view.port}/"
        status, html = _get(view.url)
        assert status == 200 and "marker-text" in html
        status, js = _get(view.url + "static/vendor/uPlot.iife.min.js")
        assert status == 200 and "uPlot" in js
        # DNS rebinding (a foreign name pointing at 127.0.0.1) and cross-site pages are refused
        assert _get(view.url, {"Host": "evil.example"})[0] == 403
        assert _get(view.url + "ws", {"Origin": "http://evil.example"})[0] == 403
        # the marker POST (curl, scripts)
        assert _post(view.url + "api/marker", json.dumps({"text": " subject got up "})) == (
            202, {"queued": True, "text": "subject got up"})
        status, body = _post(view.url + "api/marker", json.dumps({"text": ""}))
        assert status == 400 and "marker text" in body["error"]
        assert _post(view.url + "api/marker", "not json")[0] == 400
        assert view.markers() == ["subject got up"] and view.markers() == []


def test_other_interface_needs_the_printed_token():
    with WebView(WebConfig(host="0.0.0.0", port=0)) as view:
        assert view.token and len(view.token) >= 16 and f"?token={view.token}" in view.url
        base = f"http://127.0.0.1:{view.port}/"
        assert _get(base)[0] == 403
        assert _get(base + "?token=wrong")[0] == 403
        assert _get(base + f"?token={view.token}")[0] == 200
        assert _post(base + "api/marker", json.dumps({"text": "x"}))[0] == 403
        assert view.markers() == []


def test_busy_port_is_one_clear_error():
    with WebView(WebConfig(port=0)) as first:
        second = WebView(WebConfig(port=first.port))
        with pytest.raises(Exception, match=rf"--web 127.0.0.1:{first.port}: cannot listen"):
            second.start()


# --- the queue never blocks the runtime ----------------------------------------------------------

def _ecg(i: int) -> dict:
    return {"type": "ecg", "t0_s": 0.64 * i, "fs_hz": 100.0, "excluded": False, "leads": ["II"],
            "ecg_mv": [[0.1]] * 64}


def _event(i: int) -> dict:
    return {"type": "event", "t_s": float(i), "kind": "marker", "detail": f"m{i}", "count": 0, "duration_s": 0.0}


def test_full_queue_drops_stream_records_never_events_never_blocks():
    """The server's loop is held up (a stalled network stack, say): `send` still returns at
    once, stream records offered while `queue_size` items wait are dropped and counted; the
    events offered meanwhile are all kept (a tester who pressed "Mark" must see it back)."""
    with WebView(WebConfig(port=0, queue_size=4)) as view:
        gate = threading.Event()
        view._loop.call_soon_threadsafe(gate.wait)  # the loop blocks until the gate opens
        try:
            for i in range(10):
                view.send(_ecg(i))
                view.send(_event(i))
        finally:
            gate.set()
        assert view.dropped == 8  # ecg 0, event 0, ecg 1, event 1 waiting: the later ECG is refused
        _wait(lambda: view.sent == 2 + 10, what="the 2 queued records and the 10 events taken")
        assert [e["detail"] for e in view._hello()["events"]] == [f"m{i}" for i in range(10)]


def test_page_that_lags_loses_ecg_not_events_and_one_that_stops_is_closed():
    """A browser that reads nothing (a phone's busy tab): stream records beyond `client_queue`
    are not kept for it, events are; past `client_backlog_max` lines it is closed, so its page
    reconnects and takes the history, events included, from the hello."""
    cfg = WebConfig(port=0, client_queue=8, client_backlog_max=40)

    async def recv(ws):
        return await asyncio.wait_for(ws.receive_json(), 20)

    async def go(view):
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(f"http://127.0.0.1:{view.port}/ws") as ws:
                assert (await recv(ws))["type"] == "hello"
                _wait(lambda: len(view._clients) == 1, what="the page registered")
                gate = threading.Event()
                view._loop.call_soon_threadsafe(gate.wait)  # its writer cannot run: the page lags
                for i in range(20):
                    view.send(_ecg(i))
                    if i % 4 == 0:
                        view.send(_event(i))
                gate.set()
                # in order: ECG 0, event 0, ECG 1-4, event 4, ECG 5 (8 waiting), then the events only
                got = [await recv(ws) for _ in range(8 + 3)]
                assert [m["detail"] for m in got if m["type"] == "event"] == [f"m{i}" for i in range(0, 20, 4)]
                assert [m["t0_s"] for m in got if m["type"] == "ecg"] == [0.64 * i for i in range(6)]
                # now it stops reading for good: closed once 40 lines wait for it
                gate = threading.Event()
                view._loop.call_soon_threadsafe(gate.wait)
                for i in range(50):
                    view.send(_event(100 + i))
                gate.set()
                _wait(lambda: not view._clients, what="the lagging page closed")
            async with s.ws_connect(f"http://127.0.0.1:{view.port}/ws") as ws:
                hello = await recv(ws)
                assert hello["events"][-1]["detail"] == "m149"

    with WebView(cfg) as view:
        asyncio.run(go(view))


# --- marker round trip through the runtime --------------------------------------------------------

def test_marker_round_trip_into_session_and_exports(tmp_path, monkeypatch):
    """A marker sent over the page's WebSocket comes back as a 'marker' event, is in the session
    file, and is an annotation of the EDF+ and WFDB exports."""
    from edge.dsp.config import DspConfig
    from edge.runtime import RunConfig, run_edge, with_ports
    from edge.runtime import portlock
    from runtime_rig import BeatModel, serve, sim_profile

    monkeypatch.setenv(portlock.LOCK_DIR_ENV, str(tmp_path / "locks"))
    profile = sim_profile()
    session = tmp_path / "s.db"
    got: list[dict] = []
    with serve(speed=0.0) as server, WebView(WebConfig(port=0)) as view:
        prof = with_ports(profile, server.ports.config, server.ports.data)
        stop = threading.Event()
        box = {}
        t = threading.Thread(target=lambda: box.update(s=run_edge(
            prof, BeatModel(DspConfig.from_profile(profile)), RunConfig(session, status_interval_s=0.2), stop,
            status_out=False, web=view)), daemon=True)
        t.start()

        async def client():
            async with aiohttp.ClientSession() as s:
                async with s.ws_connect(f"http://127.0.0.1:{view.port}/ws") as ws:
                    sent, mark_t = False, None
                    async for m in ws:
                        msg = json.loads(m.data)
                        got.append(msg)
                        if msg["type"] == "ecg" and not sent:
                            await ws.send_str(json.dumps({"type": "marker", "text": "lights off", "id": 1}))
                            await ws.send_str(json.dumps({"type": "marker", "text": "   "}))
                            sent = True
                        if msg["type"] == "event" and msg["kind"] == "marker":
                            mark_t = msg["t_s"]
                        # until the ECG covers the marker (WFDB keeps annotations inside the signal only)
                        if mark_t is not None and msg["type"] == "ecg" and msg["t0_s"] > mark_t:
                            return

        try:
            asyncio.run(asyncio.wait_for(client(), 120))
        finally:
            stop.set()
            t.join(60)
    assert box["s"].events.get("marker") == 1
    kinds = [m["type"] for m in got]
    assert kinds[0] == "hello" and "ecg" in kinds and "status" in kinds
    assert {"type": "marker_queued", "text": "lights off", "id": 1} in got
    assert any(m["type"] == "error" and "printable" in m["error"] for m in got)

    from edge.store import SessionReader

    with SessionReader(session) as r:
        marks = [e for e in r.events() if e.kind == "marker"]
    assert [e.detail for e in marks] == ["lights off"]
    _check_exports(session, tmp_path, marks[0].t_s)


def _check_exports(session: Path, tmp_path: Path, t_s: float) -> None:
    import pyedflib
    import wfdb

    from host.export import export_session

    edf = export_session(session, "edf", tmp_path / "x.edf")
    with pyedflib.EdfReader(str(edf)) as r:
        onsets, _, texts = r.readAnnotations()
    hits = [o for o, x in zip(onsets, texts) if x == "marker: lights off"]
    assert len(hits) == 1, list(texts)
    hea = export_session(session, "wfdb", tmp_path / "wf" / "x")
    evt = wfdb.rdann(str(hea.with_suffix("")), "evt")
    assert "marker: lights off" in evt.aux_note


# --- the page in a real browser -------------------------------------------------------------------

def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        p = shutil.which(name)
        if p:
            return p
    return None


class _Cdp:
    """Just enough of the Chrome DevTools Protocol: one page target, commands by id."""

    def __init__(self, ws):
        self.ws, self.n = ws, 0

    async def call(self, method: str, **params):
        self.n += 1
        await self.ws.send_str(json.dumps({"id": self.n, "method": method, "params": params}))
        async for m in self.ws:
            msg = json.loads(m.data)
            if msg.get("id") == self.n:
                if "error" in msg:
                    raise AssertionError(f"CDP {method}: {msg['error']}")
                return msg["result"]
        raise AssertionError(f"CDP {method}: connection closed")

    async def js(self, expr: str):
        r = await self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise AssertionError(f"JS {expr}: {r['exceptionDetails']}")
        return r["result"].get("value")

    async def until(self, expr: str, timeout_s: float = 120.0):
        t_end = time.monotonic() + timeout_s
        while True:
            try:
                v = await self.js(expr)
            except AssertionError as e:  # the page is still loading (no context yet)
                v, err = None, e
            else:
                err = None
            if v:
                return v
            if time.monotonic() >= t_end:
                state = await self.js("JSON.stringify([window.crStats, document.getElementById('marker-state')"
                                      ".textContent, document.getElementById('conn').textContent])")
                raise AssertionError(f"page: {expr} not true in {timeout_s} s ({err}); page state: {state}")
            await asyncio.sleep(0.1)

    async def screenshot(self, path: Path) -> Path:
        r = await self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(r["data"]))
        return path


def _lines(stream, sink: list) -> threading.Thread:
    t = threading.Thread(target=lambda: [sink.append(x) for x in iter(stream.readline, "")], daemon=True)
    t.start()
    return t


def test_page_in_headless_chromium_trace_moves_marker_reaches_session(tmp_path, record_property):
    """As docs/runtime.md tells a tester: `cardioradar edge run --web 127.0.0.1:PORT` (the board's
    own model), the printed URL opened in a phone-sized Chromium: the page loads, the trace moves
    (samples received grow, the canvas changes), a marker typed in the text field and sent with
    the button is in the session file after the run and in its EDF+/WFDB annotations."""
    chromium = _chromium()
    if chromium is None:
        pytest.skip("no Chromium (Debian: apt-get install chromium; .ci/run installs it where it can)")
    from edge.runtime import portlock
    from runtime_rig import serve

    env = dict(os.environ, **{portlock.LOCK_DIR_ENV: str(tmp_path / "locks")})
    session = tmp_path / "night.db"
    with serve(speed=0.0) as server:
        run = subprocess.Popen([sys.executable, "-m", "cardioradar", "edge", "run", "--config-port",
                                server.ports.config, "--data-port", server.ports.data, "--session", str(session),
                                "--web", "127.0.0.1:0", "--quiet"], cwd=ROOT, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        err: list[str] = []
        _lines(run.stderr, err)
        browser = None
        try:
            line = _wait(lambda: next((x for x in err if x.startswith("live web view: ")), None) or run.poll() is not None,
                         120, "the printed URL")
            assert isinstance(line, str), "".join(err)
            url = line.split(": ", 1)[1].strip()
            assert url.startswith("http://127.0.0.1:")
            profile_dir = tmp_path / "chromium-profile"
            browser = subprocess.Popen([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                                        "--disable-dev-shm-usage", "--no-first-run", "--remote-debugging-port=0",
                                        f"--user-data-dir={profile_dir}", "about:blank"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            port_file = profile_dir / "DevToolsActivePort"
            _wait(lambda: port_file.exists() and len(port_file.read_text().split()) >= 2, 60, "Chromium's debugging port")
            shots = asyncio.run(asyncio.wait_for(_drive(int(port_file.read_text().split()[0]), url, tmp_path), 300))
        finally:
            if browser is not None:
                browser.terminate()
                browser.wait(30)
            run.send_signal(signal.SIGINT)
            rc = run.wait(120)
    for p in shots:
        print(f"web view screenshot: {p}")
        record_property("screenshot", str(p))
    assert rc == 0, "".join(err)
    from edge.store import SessionReader

    with SessionReader(session) as r:
        marks = [e for e in r.events() if e.kind == "marker"]
        assert r.metadata()["closed_cleanly"] is True
    assert [e.detail for e in marks] == ["lights off"]
    _check_exports(session, tmp_path, marks[0].t_s)


async def _drive(cdp_port: int, url: str, tmp_path: Path) -> list[Path]:
    async with aiohttp.ClientSession() as s:
        async with s.get(f"http://127.0.0.1:{cdp_port}/json/list") as r:
            page = next(t for t in await r.json() if t["type"] == "page")
        async with s.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            cdp = _Cdp(ws)
            # a phone: 390 x 844 CSS pixels at 2x
            await cdp.call("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=2,
                           mobile=True)
            await cdp.call("Page.enable")
            await cdp.call("Page.navigate", url=url)
            await cdp.until("window.crStats && window.crStats.connected")
            n1 = await cdp.until("window.crStats.samples > 0 && window.crStats.samples")
            canvas = "document.querySelector('#plot canvas').toDataURL()"
            await cdp.js(f"window.firstStrip = {canvas}")
            shot1 = await cdp.screenshot(tmp_path / "web_view_1.png")
            await cdp.until(f"window.crStats.samples > {n1}")  # the trace moves: more samples ...
            await cdp.until(f"{canvas} !== window.firstStrip")  # ... and the strip is redrawn
            await cdp.until("document.getElementById('hr').textContent !== '--'")
            # type a marker into the text field, then press the button
            await cdp.js("document.getElementById('marker-text').focus()")
            await cdp.call("Input.insertText", text="lights off")
            assert await cdp.js("document.getElementById('marker-text').value") == "lights off"
            box = await cdp.js("(() => { const b = document.getElementById('marker-send');"
                               " b.scrollIntoView(); const r = b.getBoundingClientRect();"
                               " return [r.x + r.width / 2, r.y + r.height / 2]; })()")
            for kind in ("mousePressed", "mouseReleased"):
                await cdp.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left",
                               clickCount=1)
            await cdp.until("window.crStats.markersSent === 1")  # the tap hit the button
            # back from the runtime as a session event: the page lists it
            await cdp.until("[...document.querySelectorAll('#events li.marker')]"
                            ".some(li => li.textContent.includes('marker: lights off'))")
            # the ECG goes past it (WFDB keeps annotations inside the signal only)
            await cdp.until("window.crStats.lastT > window.crStats.lastMarkerT")
            # the status line reached the page (with --quiet too)
            await cdp.until("document.getElementById('stats').textContent.startsWith('frames ')")
            await cdp.js("window.scrollTo(0, 0)")
            shot2 = await cdp.screenshot(tmp_path / "web_view_2.png")
            # one chosen lead
            await cdp.js("(() => { const s = document.getElementById('lead'); s.value = '1';"
                         " s.dispatchEvent(new Event('change')); })()")
            n = await cdp.js("window.crStats.samples")
            await cdp.until(f"window.crStats.samples > {n}")
            assert await cdp.js("document.querySelectorAll('#plot .uplot').length") == 1
            shot3 = await cdp.screenshot(tmp_path / "web_view_lead_II.png")
            return [shot1, shot2, shot3]
