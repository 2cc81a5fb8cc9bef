"""The house rules of src/losskit, read from the code's own imports (ast, no execution).

- Arrows run one way: a module imports only modules of its own layer or a lower one
  (LAYERS, top to bottom), lazy imports inside functions included, and no import circle.
- No module imports another module's underscore names across a package boundary.
- No file over 700 lines.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "losskit"

# Top to bottom. A module belongs to the first entry that is its name or a package above it.
LAYERS = [
    ["losskit", "losskit.__main__", "losskit.cli"],
    ["losskit.evaluate", "losskit.distributed"],
    ["losskit.io", "losskit.streaming", "losskit.gbdt", "losskit.explain", "losskit.plot", "losskit.lessons",
     "losskit.torch", "losskit.keras"],
    ["losskit.registry"],
    ["losskit.api"],
    ["losskit.autograd"],
    ["losskit.engine"],
    ["losskit.fused"],
    ["losskit.losses"],
    ["losskit.spec", "losskit.reductions"],
    ["losskit._array", "losskit._memo"],
]


def _module_name(path: pathlib.Path) -> str:
    parts = ("losskit",) + path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1]) if parts[-1] == "__init__" else ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _layer(name: str) -> int:
    best = None
    for i, group in enumerate(LAYERS):
        for prefix in group:
            if name == prefix or (prefix != "losskit" and name.startswith(prefix + ".")):
                if best is None or len(prefix) > best[1]:
                    best = (i, len(prefix))
    assert best is not None or name == "losskit", f"{name} has no layer in LAYERS"
    return 0 if best is None else best[0]


def _imports(name: str):
    """``(imported module, imported names, line)`` for every import of ``name``, lazy ones too."""
    tree = ast.parse(MODULES[name].read_text(), filename=str(MODULES[name]))
    package = name if _is_package(name) else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "losskit":
                    yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "losskit":
                continue
            names = [a.name for a in node.names]
            submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
            plain = [n for n in names if f"{target}.{n}" not in MODULES]
            for sub in submodules:
                yield sub, [], node.lineno
            if plain or not submodules:
                yield target, plain, node.lineno


def _edges():
    for name in MODULES:
        for target, names, line in _imports(name):
            assert target in MODULES, f"{name}:{line} imports {target}, which is not a module of losskit"
            yield name, target, names, line


def test_imports_run_downward():
    bad = [f"{a}:{line} (layer {_layer(a)}) imports {b} (layer {_layer(b)})"
           for a, b, _, line in _edges() if _layer(b) < _layer(a)]
    assert not bad, "imports from a lower layer to a higher one:\n" + "\n".join(bad)


def test_no_import_circle():
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for a, b, _, _ in _edges():
        if a != "losskit" and b != a:
            graph[a].add(b)
    # Tarjan's strongly connected components: any component of two or more modules is a circle
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert not circles, f"import circles: {circles}"


def _package_of(name: str) -> str:
    return name if _is_package(name) else name.rpartition(".")[0]


def test_no_private_names_across_packages():
    bad = []
    for a, b, names, line in _edges():
        if _package_of(a) == _package_of(b):
            continue
        bad += [f"{a}:{line} imports {n} from {b}" for n in names if n.startswith("_") and not n.startswith("__")]
    assert not bad, "underscore names imported across a package boundary:\n" + "\n".join(bad)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_file_at_most_700_lines(name):
    lines = MODULES[name].read_text().count("\n")
    assert lines <= 700, f"{MODULES[name].relative_to(SRC.parent)} has {lines} lines"


def test_the_checker_sees_a_circle_and_an_upward_import():
    """The rules above can fail: a made-up upward import is caught by the layer check."""
    assert _layer("losskit.losses.regression") > _layer("losskit.api")
    assert _layer("losskit._array.xp") > _layer("losskit.spec")
    assert _layer("losskit.engine.pool") == _layer("losskit.engine")
    edges = {(a, b) for a, b, _, _ in _edges()}
    assert ("losskit.api", "losskit.engine") in edges  # lazy and eager imports are both seen
    assert ("losskit.registry", "losskit.api") in edges
