"""The live web view `edge run --web [HOST:]PORT` serves: a page for a phone or a laptop at the bedside.

One aiohttp server on its own thread with its own event loop. The runtime's processing loop
hands it the live stream's messages (the JSON records of `edge.runtime.live`) through
``send``: a bounded queue (`cardioradar.queues.LossyQueue`) that never blocks; full -> a record
is dropped and counted, so a slow network or a stalled browser never holds up the runtime.
Events (markers, AF, alarms, disconnects) are never dropped: they are few, and a tester who
pressed "Mark" must see it come back; a browser that is behind loses ECG, not events. Markers
typed in the page travel the other way through ``markers()``, which the loop drains into 'marker' session
events (and so into the EDF+/WFDB annotations of the exports).

Routes:
    GET  /             the page (static/index.html)
    GET  /static/...   its script and style, uPlot (vendored, MIT): nothing fetched at run time
    GET  /ws           WebSocket: server -> page: {"type": "hello", ...history...}, then the
                       live records; page -> server: {"type": "marker", "text": "lights off"}
    POST /api/marker   {"text": "lights off"} (curl, scripts) -> 202 {"queued": true}

Access: loopback by default. Any other interface needs a token (``secrets.token_urlsafe``,
printed in the URL at start): the page, the WebSocket and the marker POST refuse a request
without it (403). Without a token (loopback), a request whose Host or Origin is not a
loopback name is refused too: a web page elsewhere cannot reach the board's view through
the tester's browser (DNS rebinding, cross-site WebSocket).
"""

from __future__ import annotations

import asyncio
import collections
import hmac
import ipaddress
import json
import logging
import queue
import secrets
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from cardioradar.errors import ConfigError, TransportError
from cardioradar.queues import LossyQueue, drain

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
DEFAULT_PORT = 8750
MARKER_MAX_CHARS = 200
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _reachable(host: str) -> str:
    """A wildcard bind (0.0.0.0, ::) named by the address of the default route's interface, so
    the printed URL opens on the phone; the wildcard itself where there is no route. (A UDP
    connect sends nothing: it only asks the kernel which source address it would use.)"""
    if host not in ("0.0.0.0", "::", ""):
        return host
    fam, probe = (socket.AF_INET6, "2001:db8::1") if host == "::" else (socket.AF_INET, "192.0.2.1")
    try:
        with socket.socket(fam, socket.SOCK_DGRAM) as s:
            s.connect((probe, 9))
            return s.getsockname()[0]
    except OSError:
        return host


def parse_address(text: str) -> tuple[str, int]:
    """``PORT``, ``HOST:PORT`` or ``[V6]:PORT`` -> (host, port); host defaults to 127.0.0.1."""
    s = str(text).strip()
    host, sep, port_s = s.rpartition(":")
    if not sep:
        host, port_s = "127.0.0.1", s
    host = host.strip("[]") or "127.0.0.1"
    try:
        port = int(port_s)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise ConfigError(f"--web: expected [HOST:]PORT with PORT 0..65535, got {text!r}")
    return host, port


def clean_marker(text) -> str:
    """A marker's text as stored: printable, one line, 1..MARKER_MAX_CHARS characters."""
    if not isinstance(text, str):
        raise ConfigError(f"marker text: expected a string, got {type(text).__name__}")
    t = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    if not t:
        raise ConfigError("marker text: expected 1 or more printable characters, got none")
    if len(t) > MARKER_MAX_CHARS:
        raise ConfigError(f"marker text: expected at most {MARKER_MAX_CHARS} characters, got {len(t)}")
    return t


@dataclass(frozen=True)
class WebConfig:
    """host/port: where to listen (port 0: any free port, see ``WebView.url``). token: required
    from every client (None: a new one when host is not loopback, none on loopback).
    queue_size: stream records (ECG, vitals, status) waiting for the server thread.
    history_s: ECG kept for a page that connects late. client_queue: stream records waiting for
    one slow browser before it loses some (events are never dropped: a browser with more than
    ``client_backlog_max`` lines waiting is closed, and its page reconnects to the history)."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    token: str | None = None
    queue_size: int = 256
    history_s: float = 12.0
    events_kept: int = 50
    client_queue: int = 64
    client_backlog_max: int = 1024

    @classmethod
    def from_arg(cls, text: str, **kw) -> WebConfig:
        host, port = parse_address(text)
        return cls(host=host, port=port, **kw)


class WebView:
    """The server thread. ``start()`` binds (or raises TransportError), ``send(msg)`` never
    blocks, ``markers()`` returns the texts typed since the last call, ``close()`` stops it."""

    def __init__(self, cfg: WebConfig = WebConfig()):
        self.cfg = cfg
        self.token = cfg.token if cfg.token is not None else (None if is_loopback(cfg.host) else
                                                              secrets.token_urlsafe(16))
        self.dropped = 0  # messages the runtime offered while the queue was full
        self.sent = 0  # messages taken by the server thread
        self.port = cfg.port
        self._q = LossyQueue(cfg.queue_size)
        self._markers: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        # state for a page that connects late (touched by the server thread only)
        self._ecg: collections.deque = collections.deque()
        self._events: collections.deque = collections.deque(maxlen=cfg.events_kept)
        self._last: dict[str, dict] = {}
        self._clients: set = set()
        self._closing: set = set()

    # --- the runtime's side -------------------------------------------------------------------
    @property
    def url(self) -> str:
        host = _reachable(self.cfg.host)
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/" + (f"?token={self.token}" if self.token else "")

    def start(self, timeout_s: float = 30.0) -> WebView:
        self._thread = threading.Thread(target=self._main, name="edge-web", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise TransportError(f"--web {self.cfg.host}:{self.cfg.port}: server did not start in {timeout_s:.0f} s")
        if self._error is not None:
            raise TransportError(f"--web {self.cfg.host}:{self.cfg.port}: cannot listen: {self._error}",
                                 hint="is the port in use (another run's --web)? choose another port, "
                                      "or 0 for any free one") from self._error
        return self

    def send(self, msg: dict) -> None:
        """Offer one live record; never blocks (full queue: a stream record is dropped and
        counted; an event is always kept)."""
        loop = self._loop
        if loop is None:
            return
        if not self._q.put(msg, keep=msg.get("type") == "event"):
            self.dropped += 1
            return
        try:
            loop.call_soon_threadsafe(self._wake.set)
        except RuntimeError:  # the loop is closing
            pass

    def markers(self) -> list[str]:
        """Marker texts typed in the page since the last call, oldest first."""
        return drain(self._markers)

    def add_marker(self, text: str) -> str:
        t = clean_marker(text)
        self._markers.put(t)
        log.info("marker from the web view: %s", t)
        return t

    def tee(self, live):
        """``live`` (a LiveSink) and this view behind one ``send``: the runtime offers each record once."""
        return _Tee(live, self)

    def close(self, timeout_s: float = 5.0) -> None:
        loop, t = self._loop, self._thread
        if loop is not None and self._stop is not None:
            try:
                loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:
                pass
        if t is not None:
            t.join(timeout_s)
        self._thread = None

    def __enter__(self) -> WebView:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # --- the server thread --------------------------------------------------------------------
    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        except BaseException as e:  # reported to start() if it happened before the bind
            if not self._ready.is_set():
                self._error = e
                self._ready.set()
            else:
                log.warning("web view stopped: %s", e)
        finally:
            self._loop = None
            loop.close()

    async def _serve(self) -> None:
        self._wake, self._stop = asyncio.Event(), asyncio.Event()
        app = web.Application(middlewares=[self._guard], client_max_size=64 * 1024)
        app.router.add_get("/", self._index)
        app.router.add_get("/ws", self._ws)
        app.router.add_post("/api/marker", self._post_marker)
        app.router.add_static("/static/", STATIC_DIR, follow_symlinks=False)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.cfg.host, self.cfg.port)
            await site.start()
            addrs = runner.addresses
            if addrs:
                self.port = int(addrs[0][1])
            self._loop = asyncio.get_running_loop()
            self._ready.set()
            log.info("web view on %s", self.url)
            pump = asyncio.create_task(self._pump())
            await self._stop.wait()
            pump.cancel()
            for ws in list(self._clients):
                await ws.close()
            await asyncio.gather(*self._closing, return_exceptions=True)  # lagging pages being closed
        finally:
            await runner.cleanup()

    @web.middleware
    async def _guard(self, request, handler):
        """Token (off loopback) or loopback Host/Origin (without a token) for all but /static/."""
        if not request.path.startswith("/static/"):
            if self.token is not None:
                got = request.query.get("token") or request.headers.get("X-Token", "")
                if not hmac.compare_digest(got.encode(), self.token.encode()):
                    raise web.HTTPForbidden(text="token required: use the URL printed by edge run --web\n")
            else:
                origin = request.headers.get("Origin")
                if not is_loopback(request.url.host or "") or (
                        origin and not is_loopback(urlsplit(origin).hostname or "")):
                    raise web.HTTPForbidden(text="loopback only: bind another interface with --web HOST:PORT "
                                                 "(a token is printed)\n")
        return await handler(request)

    async def _index(self, request):
        return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-store"})

    async def _post_marker(self, request):
        try:
            body = await request.json()
            text = self.add_marker(body.get("text") if isinstance(body, dict) else None)
        except (ValueError, ConfigError) as e:
            return web.json_response({"error": str(e)}, status=400)
        return web.json_response({"queued": True, "text": text}, status=202)

    async def _ws(self, request):
        ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=64 * 1024)
        await ws.prepare(request)
        out: asyncio.Queue[str] = asyncio.Queue()  # bounded by the pump: see _offer
        await ws.send_str(json.dumps(self._hello(), separators=(",", ":")))
        self._clients.add(ws)
        ws._cr_queue = out  # the pump fills it; the writer below empties it
        writer = asyncio.create_task(self._write(ws, out))
        try:
            async for m in ws:
                if m.type != web.WSMsgType.TEXT:
                    continue
                try:
                    msg = json.loads(m.data)
                    if not isinstance(msg, dict) or msg.get("type") != "marker":
                        raise ConfigError(f"web message: expected {{\"type\": \"marker\", \"text\": ...}}, "
                                          f"got {m.data[:80]!r}")
                    text = self.add_marker(msg.get("text"))
                    reply = {"type": "marker_queued", "text": text, "id": msg.get("id")}
                except (ValueError, ConfigError) as e:
                    reply = {"type": "error", "error": str(e), "id": msg.get("id") if isinstance(msg, dict) else None}
                await ws.send_str(json.dumps(reply))
        finally:
            self._clients.discard(ws)
            writer.cancel()
        return ws

    async def _write(self, ws, out: asyncio.Queue) -> None:
        try:
            while True:
                await ws.send_str(await out.get())
        except ConnectionError:  # the page went away (or was closed for lagging): its handler ends it
            pass

    def _hello(self) -> dict:
        return {"type": "hello", "ecg": list(self._ecg), "events": list(self._events),
                "vitals": self._last.get("vitals"), "status": self._last.get("status"),
                "history_s": self.cfg.history_s}

    def _remember(self, msg: dict) -> None:
        kind = msg.get("type")
        if kind == "ecg":
            self._ecg.append(msg)
            t_end = msg["t0_s"] + len(msg["ecg_mv"]) / msg["fs_hz"]
            while self._ecg and self._ecg[0]["t0_s"] < t_end - self.cfg.history_s - 5.0:
                self._ecg.popleft()
        elif kind == "event":
            self._events.append(msg)
        elif kind in ("vitals", "status"):
            self._last[kind] = msg

    async def _pump(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            for msg in self._q.drain():
                self.sent += 1
                self._remember(msg)
                if self._clients:
                    self._offer(msg["type"] == "event", json.dumps(msg, separators=(",", ":"), allow_nan=False))

    def _offer(self, is_event: bool, line: str) -> None:
        """One line to every page. A page that is behind loses stream records (the next ECG
        block replaces them), never an event; one that stops reading altogether is closed and
        gets the history (events included) in the hello of its reconnect."""
        for ws in list(self._clients):
            out: asyncio.Queue = ws._cr_queue
            if out.qsize() >= self.cfg.client_backlog_max:
                log.info("web view: a page is %d lines behind: closed (it reconnects)", out.qsize())
                self._clients.discard(ws)
                task = asyncio.create_task(ws.close())  # not awaited: its handshake must not hold up the others
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
            elif is_event or out.qsize() < self.cfg.client_queue:
                out.put_nowait(line)


class _Tee:
    """A LiveSink and a WebView behind one ``send``; ``dropped`` counts both (status line)."""

    def __init__(self, live, web: WebView):
        self.live, self.web = live, web

    @property
    def dropped(self) -> int:
        return self.live.dropped + self.web.dropped

    def send(self, msg: dict) -> None:
        self.live.send(msg)
        self.web.send(msg)

    def close(self, timeout_s: float = 2.0) -> None:
        self.live.close(timeout_s)  # the web view outlives the run's loop: its owner closes it
