"""Replay a recorded module stream through the board's own runtime.

The bytes of the data UART (a `sim record` folder's ``frames.bin``, or a session's raw
archive: the ``frames`` table, one packet per row) go through the link's ``FrameDecoder``,
then ``EdgeCore`` (DSP, int8 model, stitching, post-processing), and every ``Output`` to a
sink -- the board's session store in ``reprocess_session``, ``bench edge``'s store in
``edge.runtime.bench``. One loop, so a benchmark, a re-run of a night with a new model and
the board itself run the same code.

Frame times. A session's packets carry the board's arrival time (``host_time_s``), which
the core needs to place frames across a module restart; a bare byte stream has none, so
its frames are given the time they would have arrived at the module's pace (index / fs).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cardioradar.errors import InputDataError
from edge.link import DecoderConfig, FrameDecoder
from edge.link.types import RadarFrame
from edge.runtime.core import CoreConfig, EdgeCore, Output

log = logging.getLogger(__name__)

READ_BYTES = 8192  # what the link's reader thread reads at a time
# Events the packets cannot show again (the transport saw them, not the decoder; a tester
# typed them): copied from the original session into the reprocessed one.
TRANSPORT_EVENT_KINDS = frozenset({"disconnect", "reconnect", "reconfigure", "watchdog", "overflow", "marker"})

Chunk = tuple[bytes, "float | None"]  # (bytes, host_time_s or None for a bare stream)


def frames_bin_chunks(path: str | Path, read_bytes: int = READ_BYTES) -> Iterator[Chunk]:
    """A raw data-UART capture in ``read_bytes`` pieces, without arrival times."""
    with open(path, "rb") as fh:
        while chunk := fh.read(read_bytes):
            yield chunk, None


def session_chunks(reader) -> Iterator[Chunk]:
    """A session's raw archive (``SessionReader.frames()``), one packet per chunk, with the
    board's arrival time of each."""
    for raw in reader.frames():
        yield raw.packet, raw.host_time_s


def replay_stream(chunks: Iterable[Chunk], decoder: FrameDecoder, core: EdgeCore, put: Callable[[Output], None],
                  on_arrival: Callable[[float], None] | None = None) -> int:
    """Feed ``chunks`` through ``decoder`` and ``core``; every output goes to ``put``, then the
    core is finished (stitcher flushed). ``on_arrival(host_time_s)`` is called as each frame
    arrives (``bench edge`` drives its latency clock with it). Returns the frames decoded."""
    n_frames = 0
    for data, host_s in chunks:
        for item in decoder.feed(data, 0.0 if host_s is None else host_s):
            if isinstance(item, RadarFrame):
                if host_s is None:  # a bare stream: arrival at the module's pace
                    item = dataclasses.replace(item, host_time_s=n_frames / core.fs_hz)
                if on_arrival is not None:
                    on_arrival(item.host_time_s)
                n_frames += 1
            for o in core.feed(item):
                put(o)
    for o in core.finish():
        put(o)
    return n_frames


@dataclass(frozen=True)
class ReprocessResult:
    """What one reprocessed session gave (the new file is ``out_path``)."""

    source: str
    out_path: str
    frames: int
    session_s: float
    windows: int
    model_sha256: str


def source_kind(path: str | Path) -> str:
    """'session' (a .db), 'frames' (a `sim record` folder or its frames.bin); else InputDataError."""
    p = Path(path)
    if p.is_dir() and (p / "frames.bin").is_file():
        return "frames"
    if p.is_file() and p.name.endswith(".bin"):
        return "frames"
    if p.is_file():
        return "session"
    raise InputDataError(f"{p}: not a session .db, a frames.bin or a `sim record` folder")


def source_metadata(path: str | Path) -> dict:
    """The original's metadata: a session's ``meta`` table; for a `sim record` folder, the
    board (``truth.npz``) and the subject id (``subject.json``) where it has them."""
    p = Path(path)
    if source_kind(p) == "session":
        from edge.store import SessionReader

        with SessionReader(p) as r:
            return r.metadata()
    folder = p if p.is_dir() else p.parent
    meta: dict = {"source": "sim record"}
    try:
        if (folder / "truth.npz").is_file():
            import numpy as np

            with np.load(folder / "truth.npz") as z:
                if "board" in z.files:
                    meta["board"] = str(z["board"])
        if (folder / "subject.json").is_file():
            subject = json.loads((folder / "subject.json").read_text())
            if isinstance(subject, dict) and "subject_id" in subject:
                meta["subject_id"] = subject["subject_id"]
    except (OSError, ValueError, KeyError) as e:
        raise InputDataError(f"{folder}: unreadable recording metadata: {e}") from e
    return meta


def reprocess_session(source: str | Path, out_path: str | Path, profile, model_path: str | Path | None = None,
                      *, archive_raw: bool = True, extra_meta: dict | None = None) -> ReprocessResult:
    """Run ``source``'s raw frames through this board's runtime with the model at
    ``model_path`` (the profile's when None) into a new session file ``out_path``.

    The original is only read. The new session's metadata is the original's with the model,
    its SHA-256, this software's version and ``reprocessed_from`` replaced/added; transport
    events the packets cannot show again (disconnects, ...) are copied over."""
    from edge.dsp.config import DspConfig
    from edge.runtime.model import load_model, model_path_for
    from edge.runtime.run import _Store, file_sha256
    from edge.store import SessionReader, SessionWriter
    from cardioradar import __version__

    src = Path(source)
    kind = source_kind(src)
    out = Path(out_path)
    dsp_cfg = DspConfig.from_profile(profile)
    mpath = model_path_for(profile, model_path)
    model = load_model(profile, mpath, dsp_cfg)
    sha = file_sha256(mpath)
    reader = SessionReader(src) if kind == "session" else None
    try:
        original = reader.metadata() if reader is not None else source_metadata(src)
        meta = {k: v for k, v in original.items() if k not in ("closed_cleanly", "end_time_utc", "schema_version")}
        meta.update({"board": profile.name, "model": mpath.name, "model_sha256": sha,
                     "software_version": __version__, "reprocessed_from": src.name,
                     "original_model_sha256": original.get("model_sha256"),
                     "frame_rate_hz": dsp_cfg.fs_hz, "window_samples": dsp_cfg.window_samples,
                     "hop_samples": dsp_cfg.hop_samples, "lag_samples": dsp_cfg.lag_samples, **(extra_meta or {})})
        core = EdgeCore(dsp_cfg, model, CoreConfig(archive_raw=archive_raw))
        decoder = FrameDecoder(DecoderConfig.from_profile(profile))
        out.parent.mkdir(parents=True, exist_ok=True)
        writer = SessionWriter(out, meta)
        store = _Store(writer, 512)
        try:
            if reader is not None:
                chunks = session_chunks(reader)
            else:
                chunks = frames_bin_chunks(src / "frames.bin" if src.is_dir() else src)
            n = replay_stream(chunks, decoder, core, store.put)
            if reader is not None:
                for ev in reader.events():
                    if ev.kind in TRANSPORT_EVENT_KINDS:
                        store.put(Output(event=ev))
        finally:
            store.close()
            writer.close()
        if store.error is not None:
            raise InputDataError(f"{out}: session store failed: {store.error}") from store.error
    finally:
        if reader is not None:
            reader.close()
    return ReprocessResult(str(src), str(out), n, n / dsp_cfg.fs_hz, core.windows, sha)
