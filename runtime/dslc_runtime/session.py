"""The Model class: load an ONNX file, pick a provider, validate and run inputs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import InputError, RunError, short_reason
from .generate import random_inputs as _random_inputs
from .providers import Opened, check_choice, open_session
from .sizes import SizeRule, check_sizes, read_rules
from .specs import TensorSpec, spec_from_node_arg
from .validate import validate_feeds

__all__ = ["Array", "Model", "ModelArg"]

Array = np.ndarray[Any, Any]
ModelArg = str | os.PathLike[str] | bytes


def _source(model: ModelArg) -> tuple[str | bytes, str]:
    """The session source and a label for messages; checks that a path is a file."""
    if isinstance(model, bytes | bytearray):
        return bytes(model), "<model bytes>"
    if not isinstance(model, str | os.PathLike):
        raise RunError(f"model must be a path or bytes, got {type(model).__name__}")
    path = os.fspath(model)
    if not os.path.exists(path):
        raise RunError(f"cannot load model '{path}': file not found")
    if os.path.isdir(path):
        raise RunError(f"cannot load model '{path}': it is a directory, not an .onnx file")
    return path, f"'{path}'"


def _check_threads(threads: int | None) -> int | None:
    """Require None or a positive thread count."""
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise RunError(f"threads must be a positive integer or None, got {threads!r}")
    return threads


def _open(
    source: str | bytes,
    label: str,
    choice: str,
    threads: int | None,
    cuda_options: Mapping[str, str] | None,
) -> Opened:
    """Open the session, turning onnxruntime load failures into RunError."""
    try:
        return open_session(source, choice, threads, cuda_options)
    except RunError:
        raise
    except Exception as exc:  # noqa: BLE001 - ORT errors share no base
        raise RunError(f"cannot load model {label}: {short_reason(exc)}") from None


def _metadata(session: Any) -> Mapping[str, str]:
    try:
        return dict(session.get_modelmeta().custom_metadata_map)
    except Exception:  # noqa: BLE001 - a session without metadata: nothing to enforce
        return {}


class Model:
    """An ONNX model ready to run on CPU or CUDA through onnxruntime."""

    def __init__(
        self,
        model: ModelArg,
        provider: str = "auto",
        threads: int | None = None,
        cuda_options: Mapping[str, str] | None = None,
    ) -> None:
        """Load `model` (path or serialized bytes) with the chosen provider; `cuda_options`
        are passed to ONNX Runtime's CUDA provider (e.g. {"prefer_nhwc": "1"})."""
        choice = check_choice(provider)
        source, self.label = _source(model)
        opened = _open(source, self.label, choice, _check_threads(threads), cuda_options)
        self.session: Any = opened.session
        self.provider: str = opened.provider
        self.provider_note: str = opened.note
        self.inputs: tuple[TensorSpec, ...] = tuple(
            map(spec_from_node_arg, self.session.get_inputs())
        )
        self.outputs: tuple[TensorSpec, ...] = tuple(
            map(spec_from_node_arg, self.session.get_outputs())
        )
        self.metadata: dict[str, str] = dict(_metadata(self.session))
        self.sizes: dict[str, SizeRule] = read_rules(self.metadata)

    def __repr__(self) -> str:
        """Short description with source, provider and input specs."""
        ins = ", ".join(s.describe() for s in self.inputs)
        return f"Model({self.label}, provider={self.provider!r}, inputs=[{ins}])"

    def input(self, name: str) -> TensorSpec:
        """The spec of the input called `name`."""
        for spec in self.inputs:
            if spec.name == name:
                return spec
        names = ", ".join(f"'{s.name}'" for s in self.inputs)
        raise InputError(f"unknown input '{name}'; the model expects inputs: {names}")

    def validate(self, feeds: Mapping[str, Array]) -> None:
        """Raise InputError unless `feeds` match the model's inputs exactly."""
        validate_feeds(self.inputs, feeds)
        check_sizes(self.sizes, self.inputs, feeds)

    def as_feeds(self, feeds: Mapping[str, Array] | Array) -> Mapping[str, Array]:
        """Turn a bare array into a feed dict for a single-input model."""
        if not isinstance(feeds, np.ndarray):
            return feeds
        if len(self.inputs) != 1:
            names = ", ".join(f"'{s.name}'" for s in self.inputs)
            raise InputError(
                f"a bare array can only feed a model with one input; this model has "
                f"{len(self.inputs)} ({names}): pass a dict of name to array"
            )
        return {self.inputs[0].name: feeds}

    def run(self, feeds: Mapping[str, Array] | Array) -> dict[str, Array]:
        """Validate and run; return every output by name."""
        mapping = self.as_feeds(feeds)
        self.validate(mapping)
        try:
            results = self.session.run(None, dict(mapping))
        except Exception as exc:  # noqa: BLE001 - ORT errors share no base
            raise RunError(f"running model {self.label} failed: {short_reason(exc)}") from None
        return {
            spec.name: np.asarray(value) for spec, value in zip(self.outputs, results, strict=True)
        }

    def random_inputs(
        self, batch: int = 1, seed: int = 0, sizes: Mapping[str, int] | None = None
    ) -> dict[str, Array]:
        """Random feeds: first dim = `batch`, other symbolic dims from `sizes`."""
        feeds = _random_inputs(self.inputs, batch=batch, seed=seed, sizes=sizes)
        check_sizes(self.sizes, self.inputs, feeds)
        return feeds
