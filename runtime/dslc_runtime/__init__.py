"""dslc_runtime: run ONNX models produced by dslc with onnxruntime (no compiler needed)."""

from __future__ import annotations

from .digest import digest
from .errors import InputError, RunError
from .files import check_values, open_regular, read_array
from .generate import random_kind
from .images import Pipeline, labels_of, pipeline_of, ranked, read_image
from .providers import available_providers
from .session import Model
from .sizes import check_size_names
from .specs import TensorSpec, coerce_dtype, fit_rank, format_shape

__all__ = [
    "InputError",
    "Model",
    "Pipeline",
    "RunError",
    "TensorSpec",
    "available_providers",
    "check_size_names",
    "check_values",
    "coerce_dtype",
    "digest",
    "fit_rank",
    "format_shape",
    "labels_of",
    "open_regular",
    "pipeline_of",
    "random_kind",
    "ranked",
    "read_array",
    "read_image",
]
