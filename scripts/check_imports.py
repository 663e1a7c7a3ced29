#!/usr/bin/env python3
"""Import every third-party module that the project's code names, as written.

Usage: python scripts/check_imports.py [PATH ...]
    PATH: folders or files (.py, .ipynb); default: jupyter_speechcustom/ beside scripts/.

``deptry`` checks statically that each imported distribution is declared; this checks at run
time, in the environment it runs in, that each of those imports (top-level ones and the lazy
ones inside functions; not those under ``if TYPE_CHECKING:``) actually resolves, names imported
with ``from X import Y`` included. Run in a fresh environment made from the declared
dependencies only (scripts/fresh_env_check.sh does), a failure means an undeclared or
under-bounded dependency. The imports are found by parsing the sources (notebook cells through
IPython's own transformer when available), so the check does not depend on the package's
internal layout. Standard-library modules, ``jupyter_speechcustom`` and modules that live in
the scanned folders (e.g. ``conftest``) are skipped. Exits 1 naming each import that fails.
"""

from __future__ import annotations

import ast
import importlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "jupyter_speechcustom"


def _notebook_code(path: Path) -> str:
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        transform = TransformerManager().transform_cell
    except ImportError:  # without IPython: drop magics and shell escapes

        def transform(cell: str) -> str:
            return "\n".join(line for line in cell.splitlines() if not line.lstrip().startswith(("%", "!")))

    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    return "\n".join(transform("".join(c["source"])) for c in cells if c.get("cell_type") == "code")


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """All nodes, except the bodies of ``if TYPE_CHECKING:`` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
        else:
            stack.extend(ast.iter_child_nodes(node))


def _sources(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.suffix in (".py", ".ipynb") and ".ipynb_checkpoints" not in p.parts
            )
        else:
            yield path


def third_party_imports(paths: list[Path]) -> dict[tuple[str, tuple[str, ...]], str]:
    """{(module, names imported from it): first place it is imported} for third-party modules."""
    files = list(_sources(paths))
    local = (
        {PACKAGE, "__future__"}
        | {p.stem for p in files}
        | {d.name for p in paths if p.is_dir() for d in [p, *p.iterdir()] if d.is_dir()}
    )
    found: dict[tuple[str, tuple[str, ...]], str] = {}
    for path in files:
        code = _notebook_code(path) if path.suffix == ".ipynb" else path.read_text(encoding="utf-8")
        tree = ast.parse(code, str(path))
        for node in _runtime_nodes(tree):
            items: list[tuple[str, tuple[str, ...]]]
            if isinstance(node, ast.Import):
                items = [(alias.name, ()) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                items = [(node.module, tuple(a.name for a in node.names if a.name != "*"))]
            else:
                continue
            for module, names in items:
                top = module.partition(".")[0]
                if top in sys.stdlib_module_names or top in local:
                    continue
                found.setdefault((module, names), f"{path}:{node.lineno}")
    return found


def main() -> int:
    paths = [Path(a) for a in sys.argv[1:]] or [Path(__file__).resolve().parent.parent / PACKAGE]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print(f"check_imports: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 1
    imports = third_party_imports(paths)
    failures = []
    start = time.perf_counter()
    for (module, names), where in sorted(imports.items()):
        try:
            mod = importlib.import_module(module)
            for name in names:
                if not hasattr(mod, name):
                    importlib.import_module(f"{module}.{name}")  # a submodule: `from pkg import sub`
        except Exception as exc:  # noqa: BLE001 - report every failing import, not just the first
            what = f"from {module} import {', '.join(names)}" if names else f"import {module}"
            failures.append(f"  {what}  ({where}): {type(exc).__name__}: {exc}")
    tops = sorted({module.partition(".")[0] for module, _ in imports})
    if failures:
        print(
            f"check_imports: {len(failures)} of {len(imports)} third-party imports fail in {sys.prefix}:",
            file=sys.stderr,
        )
        print("\n".join(failures), file=sys.stderr)
        print(
            "check_imports: declare the missing distributions in pyproject.toml ([project] dependencies, "
            "or the test/notebooks extras for tests/ and notebooks/)",
            file=sys.stderr,
        )
        return 1
    print(
        f"check_imports: all {len(imports)} third-party imports resolve in {sys.prefix} "
        f"({', '.join(tops)}; {time.perf_counter() - start:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
