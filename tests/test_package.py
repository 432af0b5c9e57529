"""The package's public surface and its layering."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import lassnet

PACKAGE = Path(lassnet.__file__).parent


def test_top_level_names_resolve_lazily():
    assert set(lassnet.__all__) == {"__version__", *lassnet._EXPORTS}
    for name, module in lassnet._EXPORTS.items():
        value = getattr(lassnet, name)
        mod = importlib.import_module(f"lassnet.{module}")
        assert value is getattr(mod, name)
        assert name in mod.__all__, f"lassnet.{module}.__all__ lacks {name}"
    for module in lassnet._MODULES:
        assert getattr(lassnet, module) is importlib.import_module(f"lassnet.{module}")
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        lassnet.nope  # noqa: B018
    # importing the package itself loads neither torch nor any sub-module
    code = "import sys, lassnet; print('torch' in sys.modules, 'lassnet.model' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_all_lists_real_public_names():
    for path in _modules():
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        name = name.removesuffix(".__init__")
        module = importlib.import_module(name)
        for item in getattr(module, "__all__", []):
            assert hasattr(module, item), f"{name}.__all__ names {item}, which it lacks"


# ----------------------------------------------------------------------------- layering
#: The pipeline order, low to high: a module may import its own layer and those below, never
#: above (function-level imports included). Packages count as their top-level name.
LAYERS = [
    {"settings", "paths", "checks", "files", "ontology", "_compat"},
    {"stft", "audio", "checkpoint", "metrics"},
    {"blocks", "masks"},
    {"film", "inference"},
    {"separator", "introspect", "audiosep"},
    {"query", "data", "pretrained"},
    {"model"},
    {"train", "evaluate", "train_query"},
    {"plot", "widgets", "exercises", "testing", "cli"},
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(dotted: str) -> bool:
    base = PACKAGE.parent.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def import_graph() -> dict[str, set[str]]:
    """``module → lassnet modules it imports`` anywhere in its source (AST, so imports inside
    functions and ``if TYPE_CHECKING`` blocks count too)."""
    graph: dict[str, set[str]] = {}
    for path in _modules():
        name = _module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{a.name}" if _is_module(f"{base}.{a.name}") else base
                           for a in node.names
                           if not a.name.startswith("__")]  # __version__: metadata only
            else:
                continue
            edges.update(t for t in targets if t.split(".")[0] == "lassnet" and t != name)
    return graph


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else None
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    return len(LAYERS)  # the package's own __init__: above everything


def test_every_module_has_a_layer():
    tops = {m.split(".")[1] for m in import_graph() if "." in m}
    assert tops <= set().union(*LAYERS), f"no layer for {tops - set().union(*LAYERS)}"


def test_no_import_reaches_up_the_pipeline():
    back = [f"{a} -> {b}" for a, edges in import_graph().items() for b in edges
            if _layer(b) > _layer(a)]
    assert not back, "imports against the pipeline order:\n" + "\n".join(sorted(back))


def test_no_import_cycles():
    graph = import_graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    # a package's __init__ importing its own modules, which import their siblings, is fine;
    # a module importing back into a package that imports it is a cycle
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_encoders_and_figures_do_not_reach_into_the_corpus():
    graph = import_graph()
    for module, edges in graph.items():
        if module.startswith(("lassnet.query", "lassnet.plot")):
            assert not {e for e in edges if e.startswith("lassnet.data")}, module


def test_the_module_table_names_every_module():
    tops = {p.stem if p.suffix == ".py" else p.name for p in PACKAGE.iterdir()
            if (p.suffix == ".py" or (p / "__init__.py").is_file()) and not p.name.startswith("_")}
    listed = {line.split("`lassnet.")[1].split("`")[0] for line in lassnet.__doc__.splitlines()
              if ":mod:`lassnet." in line}
    assert tops == listed, f"missing {tops - listed}, stale {listed - tops}"
