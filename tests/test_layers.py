"""Import contracts: packages by where they run (docs/architecture.md, issue 15).

Layers, bottom up: shared leaves (``cardioradar`` but its CLI, ``boards``, ``fixedpoint``,
``bundleformat``) < ``edge`` | ``hardware_sim`` (side by side, never each other) < ``quantize``
< ``host`` < the CLI (``cardioradar.cli``). Every import is read with ``ast`` -- at module
level and inside functions, plus ``importlib.import_module("...")`` with a literal name --
so a lazy import is no way around a layer. A second test imports every module ``bundle
build`` ships in a fresh interpreter and fails if host-side packages come along.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("cardioradar", "boards", "fixedpoint", "bundleformat", "edge", "hardware_sim", "quantize", "host")
LEVEL = {"leaf": 0, "edge": 1, "hardware_sim": 1, "quantize": 2, "host": 3, "cli": 4}
CLI_MODULES = {"cardioradar.cli", "cardioradar.__main__"}
# Known upward imports, each with its reason. The test fails when one disappears, so the
# list only shrinks.
ALLOWED: dict[tuple[str, str], str] = {}
# Host-side packages the board must never load.
FORBIDDEN_ON_BOARD = ("host", "hardware_sim", "quantize", "tensorflow", "tf_keras", "onnx", "onnxruntime", "scipy")


def layer(module: str) -> str:
    top = module.split(".")[0]
    if module in CLI_MODULES:
        return "cli"
    if top in ("cardioradar", "boards", "fixedpoint", "bundleformat"):
        return "leaf"
    return top


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every in-repo module ``path`` imports, anywhere in the file."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            out.add(base)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            out.add(node.args[0].value)
    return {m for m in out if m.split(".")[0] in PACKAGES}


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))
            if "__pycache__" not in p.parts}


def violations() -> set[tuple[str, str]]:
    bad = set()
    for name, path in all_modules().items():
        mine = layer(name)
        for dep in imports_of(path):
            theirs = layer(dep)
            if theirs == mine:
                continue
            if LEVEL[theirs] > LEVEL[mine] or (LEVEL[theirs] == LEVEL[mine] and mine != "leaf"):
                bad.add((name, dep))
    return bad


def test_no_import_goes_up_a_layer():
    found = violations()
    new = sorted(found - set(ALLOWED))
    assert not new, "imports against the layers (docs/architecture.md):\n" + "\n".join(f"{a} -> {b}" for a, b in new)
    stale = sorted(set(ALLOWED) - found)
    assert not stale, f"no longer imported, drop from ALLOWED: {stale}"


def test_the_contract_check_sees_lazy_and_importlib_imports(tmp_path, monkeypatch):
    """The checker itself: a function-level import and an importlib call are both seen."""
    pkg = tmp_path / "edge"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "x.py").write_text(textwrap.dedent("""
        import importlib
        def f():
            from host.flash import flash
            return importlib.import_module("quantize.sqnr"), flash
        from . import y
    """))
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert imports_of(pkg / "x.py") == {"host.flash", "quantize.sqnr", "edge"}
    assert violations() == {("edge.x", "host.flash"), ("edge.x", "quantize.sqnr")}


def test_the_board_install_is_edge_plus_the_leaves():
    """What `bundle build` ships and what a booted slot's self-check imports are the same list."""
    from edge.agent.selfcheck import PACKAGES as SELFCHECK
    from host.bundle.collect import RUNTIME_PACKAGES, runtime_sources

    assert tuple(SELFCHECK) == tuple(RUNTIME_PACKAGES)
    assert {layer(p.replace("/", ".")) for p in RUNTIME_PACKAGES} == {"leaf", "edge"}
    shipped = {s.split("/")[0] for s in runtime_sources()}
    assert shipped == set(RUNTIME_PACKAGES), shipped


_IMPORT_BOARD = textwrap.dedent("""
    import importlib, json, sys
    mods, failed = json.loads(sys.argv[1]), []
    for m in mods:
        try:
            importlib.import_module(m)
        except Exception as e:
            failed.append(f"{m}: {type(e).__name__}: {e}")
    print(json.dumps({"failed": failed, "loaded": sorted({n.split('.')[0] for n in sys.modules})}))
""")


def test_board_modules_import_without_host_side_packages():
    """Every module `bundle build` ships, imported in one fresh interpreter: none fails and no
    host-side package (host, hardware_sim, quantize, TensorFlow, onnx, scipy) gets loaded."""
    from host.bundle.collect import runtime_sources

    mods = [module_name(ROOT / s) for s in runtime_sources() if not s.endswith("__main__.py")]
    assert len(mods) > 50 and "edge.runtime.core" in mods and "bundleformat.verify" in mods
    out = subprocess.run([sys.executable, "-c", _IMPORT_BOARD, json.dumps(mods)], cwd=ROOT,
                         capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["failed"] == []
    loaded = sorted(set(res["loaded"]) & set(FORBIDDEN_ON_BOARD))
    assert loaded == [], f"the board's modules load host-side packages: {loaded}"


def test_quantize_model_keeps_its_cli_words():
    """`cardioradar quantize model` is registered by host.cli (its report needs the host's
    scorer) and still parses as the docs write it."""
    from cardioradar.cli import build_parser

    args = build_parser().parse_args(["quantize", "model", "--keras", "m.keras", "--data", "ds", "--out", "m.tflite"])
    assert args.func.__module__ == "host.cli" and (args.keras, args.n_calib) == ("m.keras", 256)
    for words in (["bench", "dsp"], ["bench", "edge"], ["bench", "flash"], ["quantize", "sqnr"]):
        assert build_parser().parse_args(words).func.__module__.split(".")[0] in ("quantize", "host"), words



# A test module imports no other test module: shared helpers live in conftest.py fixtures or in
# helper modules whose names do not start with test_ (runtime_rig, agent_rig, model_helpers).
# Read as text, so the scripts a test hands to a child interpreter are checked too.
_TEST_IMPORT = re.compile(r"^\s*(?:from\s+(?:tests\.)?(test_\w+)\s+import|from\s+tests\s+import\s+(test_\w+)"
                          r"|import\s+(?:tests\.)?(test_\w+))", re.MULTILINE)


def imports_between_tests(tests_dir: Path) -> list[str]:
    return [f"{p.name} imports {next(g for g in m.groups() if g)}" for p in sorted(tests_dir.glob("test_*.py"))
            for m in _TEST_IMPORT.finditer(p.read_text())]


def test_no_test_module_imports_another(tmp_path):
    assert imports_between_tests(ROOT / "tests") == []
    # the check itself: each way of importing a test module is seen, a helper module is not
    (tmp_path / "test_a.py").write_text("import os\nfrom runtime_rig import serve\nfrom test_b import X\n")
    (tmp_path / "test_c.py").write_text('SCRIPT = """\nimport test_d, sys\n"""\nfrom tests import test_e\n')
    assert imports_between_tests(tmp_path) == ["test_a.py imports test_b", "test_c.py imports test_d",
                                               "test_c.py imports test_e"]
