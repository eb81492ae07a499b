"""The import graph has no circle: read every module's imports (``ast``, nothing is
executed), at module level and inside functions alike, and check that

* no two modules import each other through a chain at module level, and
* between the subpackages (core, layers, models, training, io, ...) dependencies point
  one way, function-level (lazy) imports included: e.g. models may use training and io,
  but training never imports models or io, and layers import neither.
"""
from __future__ import annotations

import ast
import functools
from pathlib import Path

import unrolled

ROOT = Path(unrolled.__file__).parent

# Edges that exist today and are being removed by another change; each names its owner.
# (io -> models is gone: models/onnx_models.py and models/torch_models.py build the models
# that io/onnx_import.py and io/torch_import.py read.)
PENDING: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, at module level?) for every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    top_level = {id(node) for node in tree.body}
    for node in tree.body:   # `if TYPE_CHECKING:` / try blocks at module level count too
        if isinstance(node, (ast.If, ast.Try)):
            for sub in ast.walk(node):
                if isinstance(sub, ast.If) and "TYPE_CHECKING" in ast.dump(sub.test):
                    continue
                top_level.add(id(sub))
    type_checking = {id(sub) for node in ast.walk(tree) if isinstance(node, ast.If)
                     and "TYPE_CHECKING" in ast.dump(node.test) for sub in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if id(node) in type_checking:
            continue
        if isinstance(node, ast.Import):
            found += [(a.name, id(node) in top_level) for a in node.names if a.name.startswith("unrolled")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.startswith("unrolled"):
                found.append((mod, id(node) in top_level))
                for a in node.names:   # `from . import losses` imports a module
                    if (ROOT.parent / (mod.replace(".", "/") + "/" + a.name + ".py")).exists():
                        found.append((f"{mod}.{a.name}", id(node) in top_level))
    return found


@functools.lru_cache(maxsize=1)
def _graph() -> dict[str, list[tuple[str, bool]]]:
    """Every module's imports, read once for both tests (neither changes it)."""
    return {_module_name(p): _imports(p) for p in ROOT.rglob("*.py")}


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(edges.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(edges):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_no_module_level_import_cycle() -> None:
    graph = _graph()
    edges = {m: {i for i, top in imps if top and i in graph and i != m} for m, imps in graph.items()}
    # a package's __init__ importing its own submodules is how packages work, not a circle
    edges = {m: {i for i in e if not (i.startswith(m + ".") and m.count(".") < i.count("."))}
             for m, e in edges.items()}
    assert _cycle(edges) is None, f"module-level import cycle: {' -> '.join(_cycle(edges) or [])}"


def _subpackage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (ROOT / parts[1]).is_dir()) else "unrolled"


def test_subpackages_depend_one_way() -> None:
    graph = _graph()
    edges: dict[str, set[str]] = {}
    where: dict[tuple[str, str], str] = {}
    for module, imps in graph.items():
        src = _subpackage(module)
        for imported, _ in imps:
            dst = _subpackage(imported)
            if src != dst and "unrolled" not in (src, dst) and (src, dst) not in PENDING:
                edges.setdefault(src, set()).add(dst)
                where.setdefault((src, dst), module)
    cycle = _cycle(edges)
    assert cycle is None, ("subpackage import cycle: " + " -> ".join(cycle or []) + "; edges: "
                           + ", ".join(f"{a}->{b} ({where[(a, b)]})" for a, b in zip(cycle, cycle[1:])))
    assert not edges.get("training", set()) & {"models", "io", "inspect", "forecast"}, edges["training"]
    assert not edges.get("layers", set()) & {"models", "training", "io"}, edges.get("layers")
