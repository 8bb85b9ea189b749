"""The package's shape: arrows point down only, and every module stays one screenful of ideas.

The coursework ladder (and a reader) climbs the modules in order, so an early rung must import
without any later one. The one allowed loop is Tensor's own operator methods: ``x + y`` calls
``ops.math``, which builds on Tensor.
"""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "tinyunet"
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the tinyunet modules it imports, at module level or inside a function."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")
                if node.level:
                    base = base[: len(base) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                for alias in node.names:
                    sub = f"{source}.{alias.name}"
                    targets.add(sub if sub in modules else source)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _allowed(source: str, target: str) -> bool:
    return source == "tinyunet.tensor" and target.startswith("tinyunet.ops.")


def cycles(graph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

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
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles_beyond_tensors_operators():
    graph = {m: {t for t in ts if not _allowed(m, t)} for m, ts in import_graph().items()}
    assert cycles(graph) == []


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_bottom_rung_imports_nothing_above_it():
    """``import tinyunet.tensor`` loads the engine's rung only: no conv, no nn, no models."""
    code = ("import sys, tinyunet.tensor; "
            "print(' '.join(m for m in sys.modules if m.startswith('tinyunet')))")
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout.split())
    assert "tinyunet.tensor" in loaded
    for later in ("tinyunet.ops.conv", "tinyunet.ops.pool", "tinyunet.nn", "tinyunet.models",
                  "tinyunet.autograd", "tinyunet.kernels", "tinyunet.train"):
        assert later not in loaded, later


def test_every_module_fits_in_400_lines():
    long = {name: n for name, path in _modules().items()
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}, f"split these along their seams: {long}"


def test_the_torch_twins_are_plain_pytorch():
    """``tinyunet.torch_twins`` is shipped as a stand-alone PyTorch model file by export: it may
    import its own siblings and torch, nothing else of tinyunet."""
    outside = {m: sorted(t for t in targets if not t.startswith("tinyunet.torch_twins"))
               for m, targets in import_graph().items() if m.startswith("tinyunet.torch_twins")}
    assert all(not t for t in outside.values()), outside
