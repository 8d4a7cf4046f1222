"""`cardioradar bench flash`: a realistic bundle through a paced pty link to an agent.

The bundle is a real one (`host.bundle.build_bundle`: this repository's runtime sources,
text that compresses well) with a seeded synthetic int8 model of ``model_bytes``.
The agent runs in a thread on a temporary root; the link is a `PtyLine` (a pty null modem whose
host end is a ``cable://`` line) paced at ``baud``.
Effective rate = bundle bits / (begin .. board's verify answered).
"""

from __future__ import annotations

import logging
import tempfile
import threading
from pathlib import Path

from edge.agent import health
from edge.agent.port import open_link
from edge.agent.server import Agent, AgentConfig, serve
from host.cable.line import PtyLine
from host.cable.protocol_cable import bits_per_char
from host.synthmodel import synthetic_model

log = logging.getLogger(__name__)

TFLITE_HEAD = b"TFL3"  # the FlatBuffer file identifier, at bytes 4..8 of every .tflite


def make_bundle(out_dir: Path, board: str, model_bytes: int, seed: int, *, security_counter: int = 1,
                key: Path | None = None) -> Path:
    """A signed bundle (this repository's runtime sources + a synthetic model) for ``board``."""
    import host.bundle as api  # cryptography: imported when a bundle is made
    out_dir.mkdir(parents=True, exist_ok=True)
    if key is None:
        key, _ = api.generate_keys(out_dir / "keys")
    model = synthetic_model(out_dir / f"model-{seed}.tflite", model_bytes, seed)
    path = out_dir / f"{board}-{security_counter}-{seed}.bundle"
    api.build_bundle(board, key, path, model_path=model, security_counter=security_counter)
    return path


def bench_flash(baud: int, size_bytes: int, seed: int) -> dict:
    import host.bundle as api  # cryptography: imported when a bundle is made
    from host.flash import AgentClient, flash

    with tempfile.TemporaryDirectory(prefix="cr-bench-flash-") as tmp, PtyLine(baud, seed=seed) as line:
        tmp = Path(tmp)
        key, pub = api.generate_keys(tmp / "keys")
        bundle = make_bundle(tmp, "sim", size_bytes, seed, key=key)
        spec = health.HealthSpec(("{python}", "-c", "pass"), 30.0)
        agent = Agent(AgentConfig(tmp / "root", "sim", (pub,), spec))
        stop = threading.Event()
        board_port = open_link(line.board_port, baud)
        t = threading.Thread(target=serve, args=(agent, board_port, stop), daemon=True)
        t.start()
        host_port = open_link(line.host_port, baud)
        try:
            client = AgentClient(host_port, timeout_s=5.0)
            res = flash(client, bundle)
            code_only = _code_only_update(tmp, bundle, seed, key)
            delta = flash(client, code_only)
        finally:
            stop.set()
            t.join(timeout=5.0)
            host_port.close()
            board_port.close()
    out = res.as_dict()
    # a code-only update (one module changed): what it put on the wire against the full bundle
    out["delta"] = delta.as_dict()
    out["delta_ratio"] = round(delta.wire_bytes / res.wire_bytes, 4)
    out["delta_sent_ratio"] = round(delta.sent_bytes / delta.size_bytes, 4)
    out["link_kbps"] = baud / 1000
    out["link_payload_kbps"] = baud / bits_per_char() * 8 / 1000
    return out


def _code_only_update(tmp: Path, bundle: Path, seed: int, key: Path) -> Path:
    """The same bundle with one runtime module changed (a line appended to ``edge/post.py``):
    built from a copy of this tree's runtime packages, same model, counter one higher."""
    import shutil

    import host.bundle as api  # cryptography: imported when a bundle is made
    from host.bundle.collect import RUNTIME_PACKAGES, repo_root

    src, dst = repo_root(), tmp / "code-only-src"
    for pkg in RUNTIME_PACKAGES:
        shutil.copytree(src / pkg, dst / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    post = dst / "edge" / "post.py"
    post.write_text(post.read_text() + "\n# code-only update (bench flash)\n")
    man = api.read_manifest(bundle)
    out = tmp / "code-only.bundle"
    api.build_bundle("sim", key, out, model_path=tmp / f"model-{seed}.tflite",
                     security_counter=man.security_counter + 1, source_root=dst)
    return out
