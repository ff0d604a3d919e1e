"""Choosing what runs the SFace graphs: auto, explicit, refused with a clear message."""

from __future__ import annotations

import importlib.util

import pytest
from pydantic import ValidationError

from facegate.core.errors import ConfigError
from facegate.core.settings import Settings
from facegate.core.vision import runtime


def test_auto_prefers_openvino_when_installed() -> None:
    assert importlib.util.find_spec("openvino") is not None  # the test extras install it
    assert runtime.resolve_runtime("auto") == "openvino"
    assert runtime.resolve_runtime("auto", prefer_openvino=False) == "onnxruntime"
    assert runtime.resolve_runtime("onnxruntime") == "onnxruntime"


def test_auto_falls_back_and_explicit_openvino_is_refused_without_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runtime, "openvino_available", lambda: False)
    assert runtime.resolve_runtime("auto") == "onnxruntime"
    with pytest.raises(ConfigError, match=r"pip install 'facegate\[openvino\]'"):
        runtime.resolve_runtime("openvino")


def test_unknown_runtime_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="unknown inference runtime 'tensorrt'"):
        runtime.resolve_runtime("tensorrt")
    monkeypatch.setenv("FACEGATE_INFERENCE_RUNTIME", "tensorrt")
    with pytest.raises(ValidationError, match="inference_runtime"):
        Settings()
    monkeypatch.setenv("FACEGATE_INFERENCE_RUNTIME", "onnxruntime")
    assert Settings().inference_runtime == "onnxruntime"


def test_openvino_streams_split_the_cpus_by_threads_per_inference() -> None:
    assert runtime.openvino_streams(1, cpus=2) == 2
    assert runtime.openvino_streams(2, cpus=2) == 1
    assert runtime.openvino_streams(3, cpus=16) == 5
    assert runtime.openvino_streams(4, cpus=2) == 1  # never zero
