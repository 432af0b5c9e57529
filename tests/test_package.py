"""The package's public surface and its layering."""

from __future__ import annotations

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
