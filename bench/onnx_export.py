"""Export torchvision's counterparts of the zoo to ONNX with torch.onnx.export, three ways:
the TorchScript exporter at opsets 17 and 18 and the dynamo exporter (dynamo=True).

Batch norm is kept as BatchNormalization (TorchScript: training=PRESERVE and no constant
folding; dynamo: optimize=False), as torchvision's module tree has it; the default exports
fold it into the convolutions, which changes the parameter count (a conv bias instead of a
BN's weight and bias). Used by bench/onnx_import.py and tests/models/test_onnx_import.py.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path
from typing import Any

EXPORTERS = ("ts17", "ts18", "dynamo")


def export(model: Any, size: tuple[int, int], exporter: str, path: Path) -> None:
    """Write `model` (in eval mode) as ONNX to `path` with one of EXPORTERS."""
    import torch

    x = torch.randn(1, 3, *size)
    logging.getLogger("torch").setLevel(logging.CRITICAL)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            batch = torch.export.Dim("N", min=1, max=1024)
            try:
                torch.onnx.export(
                    model,
                    (x,),
                    str(path),
                    dynamo=True,
                    optimize=False,
                    input_names=["image"],
                    dynamic_shapes=({0: batch},),
                    verbose=False,
                )
            except Exception:  # noqa: BLE001 - torch.export cannot keep the batch dynamic
                # (ConvNeXt): a batch of 1, which dslc reads as N anyway
                torch.onnx.export(
                    model,
                    (x,),
                    str(path),
                    dynamo=True,
                    optimize=False,
                    input_names=["image"],
                    verbose=False,
                )
        else:
            torch.onnx.export(
                model,
                (x,),
                str(path),
                dynamo=False,
                opset_version=int(exporter[2:]),
                input_names=["image"],
                output_names=["output"],
                dynamic_axes={"image": {0: "N"}, "output": {0: "N"}},
                training=torch.onnx.TrainingMode.PRESERVE,
                do_constant_folding=False,
            )
