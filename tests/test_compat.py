"""Upstream workarounds (lassnet._compat): laion-clap's import and Hugging Face offline mode."""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest

from lassnet import settings
from lassnet._compat import laion_clap as compat


@pytest.mark.parametrize(
    "value, on",
    [("1", True), ("true", True), (" YES ", True), ("On", True), ("0", False), ("off", False),
     ("", False), (None, False), ("2", False)],
)
def test_truthy_is_the_one_rule_for_switches(value, on, monkeypatch):
    assert settings.truthy(value) is on
    monkeypatch.setenv("LASSNET_FAST", value or "")
    assert settings.fast() is on


@pytest.mark.parametrize("variable", compat.OFFLINE_VARIABLES)
def test_env_offline_follows_either_variable(variable, monkeypatch):
    for name in compat.OFFLINE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert compat.env_offline() is False
    monkeypatch.setenv(variable, " True ")  # read with settings.truthy
    assert compat.env_offline() is True
    monkeypatch.setenv(variable, "no")
    assert compat.env_offline() is False


def test_hub_host_follows_hf_endpoint(monkeypatch):
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    assert compat._hub_endpoint_host() == "huggingface.co"
    monkeypatch.setenv("HF_ENDPOINT", "https://hf-mirror.example.org:8443/sub")
    assert compat._hub_endpoint_host() == "hf-mirror.example.org"
    monkeypatch.setenv("HF_ENDPOINT", "not a url")
    assert compat._hub_endpoint_host() == "huggingface.co"


def test_hub_reachable_is_false_when_nothing_answers(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.invalid")  # .invalid never resolves
    assert compat.hub_reachable(timeout=1.0) is False


def test_hub_offline_restores_flags(monkeypatch):
    pytest.importorskip("huggingface_hub")
    import huggingface_hub.constants as constants

    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    before = constants.HF_HUB_OFFLINE, os.environ.get("HF_HUB_OFFLINE")
    with compat.hub_offline():
        assert constants.HF_HUB_OFFLINE is True
        assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"
        assert compat.env_offline()
    assert (constants.HF_HUB_OFFLINE, os.environ.get("HF_HUB_OFFLINE")) == before
    assert "TRANSFORMERS_OFFLINE" not in os.environ
    with pytest.raises(RuntimeError), compat.hub_offline():
        raise RuntimeError("inside")
    assert (constants.HF_HUB_OFFLINE, os.environ.get("HF_HUB_OFFLINE")) == before
    with compat.hub_offline(enabled=False):
        assert (constants.HF_HUB_OFFLINE, os.environ.get("HF_HUB_OFFLINE")) == before


def test_import_clap_module_without_laion_clap_says_what_to_install(monkeypatch):
    monkeypatch.delitem(sys.modules, "clap_module", raising=False)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec",
        lambda name, *a: None if name == "laion_clap" else real_find_spec(name, *a),
    )
    with pytest.raises(ImportError, match=r"pip install 'lassnet\[clap\]'"):
        compat.import_clap_module()


def test_import_clap_module_refuses_a_foreign_clap_module(monkeypatch, tmp_path):
    foreign = type(sys)("clap_module")
    foreign.__file__ = str(tmp_path / "clap_module" / "__init__.py")
    monkeypatch.setitem(sys.modules, "clap_module", foreign)
    with pytest.raises(ImportError, match="another package named clap_module"):
        compat.import_clap_module()


def test_import_clap_module_loads_only_the_model_definitions(monkeypatch):
    if importlib.util.find_spec("laion_clap") is None:
        pytest.skip("laion-clap is not installed")
    for name in [n for n in sys.modules if n == "clap_module" or n.startswith("clap_module.")]:
        monkeypatch.delitem(sys.modules, name)
    had_laion_clap = "laion_clap" in sys.modules
    module = compat.import_clap_module()
    assert "laion_clap" in module.__file__ and "HTSAT-tiny" in module.list_models()
    assert sys.modules["clap_module"] is module
    assert compat.import_clap_module() is module  # reused, not imported twice
    assert ("laion_clap" in sys.modules) == had_laion_clap  # its __init__ never ran
