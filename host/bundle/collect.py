"""Which source files are "the code the board runs".

Roots: every ``.py`` of the ``edge``, ``fixedpoint``, ``bundleformat`` (the board agent verifies
the next bundle with it), ``boards`` and ``cardioradar`` packages. Then, by
reading imports (``ast``, nothing is executed), every in-repo module those files import
at module level, and so on (today: nothing beyond the roots; tests/test_layers.py checks it). Imports
inside functions are not followed: by convention they are host-only paths (the
simulator, SQNR reports) that the board never takes.
"""

from __future__ import annotations

import ast
import logging
from pathlib import Path

from cardioradar.errors import ConfigError
from edge.agent.selfcheck import PACKAGES

log = logging.getLogger(__name__)

# The list a booted slot's self-check imports, kept there (the board side): one list for both.
RUNTIME_PACKAGES = PACKAGES


def repo_root() -> Path:
    import cardioradar

    return Path(cardioradar.__file__).resolve().parent.parent


def runtime_sources(root: Path | None = None) -> list[str]:
    """Sorted POSIX paths (relative to ``root``) of the runtime's ``.py`` files."""
    root = root or repo_root()
    todo: list[str] = []
    for pkg in RUNTIME_PACKAGES:
        d = root / pkg
        if not (d / "__init__.py").is_file():
            raise ConfigError(f"runtime package {pkg}: no __init__.py under {root}")
        todo += [p.relative_to(root).as_posix() for p in sorted(d.rglob("*.py"))
                 if "__pycache__" not in p.parts and not any(s.startswith(".") for s in p.parts)]
        todo += _parent_inits(pkg + "/__init__.py", root)
    seen: set[str] = set()
    while todo:
        rel = todo.pop()
        if rel in seen:
            continue
        seen.add(rel)
        for dep in _imported_files(root, rel):
            if dep not in seen:
                todo.append(dep)
    return sorted(seen)


def _parent_inits(rel: str, root: Path) -> list[str]:
    """``a/b/c.py`` -> ``a/__init__.py``, ``a/b/__init__.py`` (those that exist)."""
    parts = rel.split("/")[:-1]
    out = []
    for i in range(1, len(parts) + 1):
        init = "/".join(parts[:i]) + "/__init__.py"
        if (root / init).is_file():
            out.append(init)
    return out


def _module_file(root: Path, dotted: str) -> str | None:
    base = dotted.replace(".", "/")
    for cand in (base + ".py", base + "/__init__.py"):
        if (root / cand).is_file():
            return cand
    return None


def _top_level_imports(tree: ast.Module):
    """Import nodes executed when the module is imported (not inside functions)."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            stack.extend(n for n in ast.iter_child_nodes(node) if isinstance(n, ast.stmt))


def _imported_files(root: Path, rel: str) -> list[str]:
    path = root / rel
    try:
        tree = ast.parse(path.read_bytes(), filename=rel)
    except SyntaxError as e:
        raise ConfigError(f"{rel}:{e.lineno}: cannot be parsed, refusing to bundle it: {e.msg}") from e
    package = rel.rsplit("/", 1)[0].replace("/", ".") if "/" in rel else ""
    if rel.endswith("/__init__.py"):
        package = rel[: -len("/__init__.py")].replace("/", ".")
    names: list[str] = []
    for node in _top_level_imports(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
            continue
        base = node.module or ""
        if node.level:
            up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            base = ".".join(up + ([base] if base else []))
        names.append(base)
        names += [f"{base}.{a.name}" for a in node.names if a.name != "*"]
    out = []
    for dotted in names:
        f = _module_file(root, dotted)
        if f is not None:  # stdlib and third-party modules are not files under root
            out.append(f)
            out += _parent_inits(f, root)
    return out
