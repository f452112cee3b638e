"""User-facing error types raised by dslc_runtime."""

from __future__ import annotations

import re

__all__ = ["InputError", "RunError", "short_reason"]

_ORT_PREFIX = re.compile(r"^\s*\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*[A-Z_]+\s*:\s*")
_MAX_REASON = 300


class RunError(Exception):
    """A deployment-time failure whose message is meant to be shown as-is."""


class InputError(RunError):
    """An input fed to a model has the wrong name, shape or dtype."""


def short_reason(exc: BaseException) -> str:
    """Condense an (often verbose) onnxruntime exception into one short line."""
    text = str(exc).strip() or type(exc).__name__
    text = _ORT_PREFIX.sub("", text)
    text = " ".join(text.split())
    if len(text) > _MAX_REASON:
        text = text[: _MAX_REASON - 3].rstrip() + "..."
    return text
