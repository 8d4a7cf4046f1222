"""`cardioradar keys generate` and `cardioradar bundle build|verify`: argument parsing only.

Registered through ``host.cli.COMMANDS``; each handler makes one library call and prints
the result. Refusals are ``BundleError``s, turned into exit code 8 + message by
``cardioradar.cli.main``.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from cardioradar.cliargs import add_json, add_out, add_renamed, out_folder, out_path, print_result


def add_keys(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="keys_cmd", metavar="ACTION", required=True)
    g = sub.add_parser("generate", help="make an ed25519 key pair for signing bundles")
    add_out(g, required=True, what="bundle-signing.key (0600) and bundle-signing.pub")
    add_json(g, '{"private_key", "public_key", "key_id"}')


def run_keys(args: argparse.Namespace) -> int:
    from bundleformat.keys import generate_keys, key_id, load_public_key

    priv, pub = generate_keys(out_folder(args.out))
    kid = key_id(load_public_key(pub))
    return print_result(args, f"private key {priv}  (keep it secret; never ship it)\n"
                              f"public key  {pub}  (key id {kid})",
                        {"private_key": str(priv), "public_key": str(pub), "key_id": kid})


def add_bundle(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="bundle_cmd", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="build and sign a firmware bundle for a board")
    b.add_argument("--board", required=True, help="board profile name (boards/NAME.toml) or path")
    b.add_argument("--model", default=None, help=".tflite to ship (metadata .json beside it); default: the profile's")
    b.add_argument("--key", required=True, help="private signing key (from `keys generate`)")
    add_out(b, file="BOARD-COUNTER.bundle", required=True, what="the bundle")
    b.add_argument("--security-counter", required=True, type=int,
                   help="anti-rollback counter: boards refuse bundles below the installed one")
    b.add_argument("--min-agent-version", default="0.1.0", help="oldest update agent allowed to install it")
    b.add_argument("--source", default=None,
                   help="checkout to take the runtime code from (default: the one running this command)")
    add_json(b, '{"bundle", "board", "edge_version", "files", "size_bytes", "security_counter", "key_id"}')
    v = sub.add_parser("verify", help="check a bundle's signature and files; print what it holds")
    v.add_argument("bundle", help="bundle file")
    v.add_argument("--pubkey", required=True, action="append", help="trusted public key (repeatable)")
    v.add_argument("--expect-board", default=None, metavar="NAME", help="refuse unless built for this board name")
    add_renamed(v, "--board", "--expect-board", dest="expect_board")
    v.add_argument("--installed-counter", type=int, default=None,
                   help="refuse a bundle whose security counter is lower (downgrade)")
    v.add_argument("--agent-version", default=None, help="refuse if the bundle needs a newer agent")
    v.add_argument("--files", action="store_true", help="list every file with its SHA-256")
    add_json(v, '{"bundle", "board", "version", "edge_version", "security_counter", "key_id", "files", "size_bytes"}')


def run_bundle(args: argparse.Namespace) -> int:
    if args.bundle_cmd == "build":
        from host.bundle.build import build_bundle
        from bundleformat.verify import read_manifest

        out = out_path(args.out, f"{Path(args.board).stem}-{args.security_counter}.bundle")
        out = build_bundle(args.board, args.key, out, model_path=args.model,
                           security_counter=args.security_counter, min_agent_version=args.min_agent_version,
                           source_root=args.source)
        m = read_manifest(out)
        r = {"bundle": str(out), "board": m.board, "edge_version": m.edge_version, "files": len(m.files),
             "size_bytes": out.stat().st_size, "security_counter": m.security_counter, "key_id": m.key_id}
        return print_result(args, f"{out}: board {m.board}, edge {m.edge_version}, {r['files']} files, "
                                  f"{r['size_bytes']} bytes, security counter {m.security_counter}, key {m.key_id}", r)
    from bundleformat.verify import verify_bundle

    m = verify_bundle(args.bundle, args.pubkey, board=args.expect_board, installed_counter=args.installed_counter,
                      agent_version=args.agent_version)
    return print_result(args, describe(m, args.bundle, files=args.files),
                        {"bundle": str(args.bundle), "board": m.board, "version": m.version,
                         "edge_version": m.edge_version, "security_counter": m.security_counter,
                         "key_id": m.key_id, "files": len(m.files), "size_bytes": m.total_size})


def describe(m, bundle: str, *, files: bool = False) -> str:
    created = dt.datetime.fromtimestamp(m.created, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    meta = m.model.metadata
    meta_line = ", ".join(f"{k}={meta[k]}" for k in ("format", "fs_hz", "window_samples", "hop_samples")
                          if k in meta) or f"{len(meta)} keys"
    lines = [
        f"bundle     {bundle}: signature OK (ed25519, key {m.key_id})",
        f"product    {m.product} {m.version}, edge code {m.edge_version}",
        f"board      {m.board} (profile {m.profile})",
        f"model      {m.model.path} sha256 {m.model.sha256}",
        f"           metadata: {meta_line}",
        f"radar cfg  {m.cfg.path} sha256 {m.cfg.sha256}",
        f"security   counter {m.security_counter}, needs agent >= {m.min_agent_version}",
        f"created    {created}",
        f"files      {len(m.files)}, {m.total_size} bytes, all SHA-256 verified",
    ]
    if files:
        lines += [f"  {f.sha256}  {f.size:>8}  {f.path}" for f in m.files]
    return "\n".join(lines)
