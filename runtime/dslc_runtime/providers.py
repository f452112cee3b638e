"""Choosing an onnxruntime execution provider and reporting what is really used."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import onnxruntime as ort  # type: ignore[import-untyped, unused-ignore]

from .errors import RunError, short_reason
from .files import open_regular

__all__ = [
    "CPU",
    "CUDA",
    "GPU_INSTALL_HINT",
    "PROVIDER_CHOICES",
    "ModelSource",
    "Opened",
    "available_providers",
    "check_choice",
    "open_session",
]

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
PROVIDER_CHOICES = ("auto", "cuda", "cpu")
GPU_INSTALL_HINT = (
    "install the GPU build with `pip uninstall onnxruntime && pip install onnxruntime-gpu` "
    "(never install onnxruntime and onnxruntime-gpu together) and make sure the CUDA and "
    "cuDNN versions it needs are installed"
)

ModelSource = str | bytes


@dataclass(frozen=True)
class Opened:
    """A created session plus the provider it really uses and a human note."""

    session: Any
    provider: str
    note: str


def available_providers() -> list[str]:
    """Execution providers compiled into the installed onnxruntime."""
    return list(ort.get_available_providers())


def check_choice(provider: str) -> str:
    """Normalise the provider argument or raise RunError listing valid choices."""
    choice = provider.strip().lower() if isinstance(provider, str) else ""
    if choice not in PROVIDER_CHOICES:
        valid = ", ".join(f"'{c}'" for c in PROVIDER_CHOICES)
        raise RunError(f"unknown provider {provider!r}; valid choices are {valid}")
    return choice


def _create(source: ModelSource, options: Any, providers: list[str]) -> Any:
    """Create an InferenceSession (exceptions propagate to the caller)."""
    return ort.InferenceSession(source, sess_options=options, providers=providers)


def _gpu_note(session: Any) -> str:
    """Describe the active CUDA provider, with its device id when known."""
    options = session.get_provider_options().get(CUDA, {})
    return f"{CUDA} (GPU {options.get('device_id', '0')})"


def _is_cuda(session: Any) -> bool:
    """True when the session's first (preferred) provider is CUDA."""
    active = session.get_providers()
    return bool(active) and active[0] == CUDA


def _open_cpu(source: ModelSource, options: Any, why: str) -> Opened:
    """Create a CPU-only session, with `why` explaining the choice."""
    session = _create(source, options, [CPU])
    return Opened(session, "cpu", f"{CPU} ({why})")


def _no_cuda_reason() -> str:
    """Why CUDA cannot be used with this onnxruntime install."""
    return (
        f"onnxruntime {ort.__version__} has no CUDA provider in this install, "
        f"only {', '.join(available_providers())}"
    )


def _cuda_entry(cuda_options: Mapping[str, str] | None) -> Any:
    """The CUDA entry of a providers list: its name, or (name, options) when options are set."""
    return (CUDA, dict(cuda_options)) if cuda_options else CUDA


def _open_auto(
    source: ModelSource, options: Any, cuda_options: Mapping[str, str] | None = None
) -> Opened:
    """Try CUDA (CPU fallback) when compiled in; otherwise plain CPU."""
    if CUDA not in available_providers():
        return _open_cpu(source, options, f"CUDA not available: {_no_cuda_reason()}")
    try:
        session = _create(source, options, [_cuda_entry(cuda_options), CPU])
    except Exception as exc:  # noqa: BLE001 - CUDA init errors vary
        why = f"CUDA requested by auto but failed to initialise: {short_reason(exc)}"
        return _open_cpu(source, options, why)
    if _is_cuda(session):
        return Opened(session, "cuda", _gpu_note(session))
    why = (
        "CUDA requested by auto but failed to initialise: onnxruntime fell back to CPU, "
        "usually because the CUDA/cuDNN libraries could not be loaded (see its log above)"
    )
    return Opened(session, "cpu", f"{CPU} ({why})")


def _open_cuda(
    source: ModelSource, options: Any, cuda_options: Mapping[str, str] | None = None
) -> Opened:
    """Require CUDA; raise RunError when it is missing or does not activate."""
    if CUDA not in available_providers():
        raise RunError(f"provider 'cuda' requested but {_no_cuda_reason()}; {GPU_INSTALL_HINT}")
    try:
        session = _create(source, options, [_cuda_entry(cuda_options)])
    except Exception as exc:  # noqa: BLE001 - CUDA init errors vary
        _create(source, options, [CPU])  # a broken model raises its own error here
        raise RunError(
            f"provider 'cuda' requested but CUDA failed to initialise: {short_reason(exc)}; "
            f"{GPU_INSTALL_HINT}"
        ) from None
    if not _is_cuda(session):
        raise RunError(
            "provider 'cuda' requested but onnxruntime fell back to "
            f"{', '.join(session.get_providers())}: the CUDA/cuDNN libraries could not be "
            f"loaded (see onnxruntime's log above); {GPU_INSTALL_HINT}"
        )
    return Opened(session, "cuda", _gpu_note(session))


def open_session(
    source: ModelSource,
    choice: str,
    threads: int | None,
    cuda_options: Mapping[str, str] | None = None,
) -> Opened:
    """Create a session for an already-checked provider choice; `cuda_options` are CUDA
    provider options (e.g. prefer_nhwc), ignored when the session runs on CPU."""
    if isinstance(source, str):  # ONNX Runtime would open a FIFO and wait for a writer
        open_regular(source, "model").close()
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    if choice == "cpu":
        return _open_cpu(source, options, "requested with provider 'cpu'")
    if choice == "cuda":
        return _open_cuda(source, options, cuda_options)
    return _open_auto(source, options, cuda_options)
