"""`dslc quantize MODEL.onnx --calibrate SOURCE`: a static INT8 (QDQ) model, calibrated on
images, an .npz array or scikit-learn's digits, with onnxruntime.quantization."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click

from dslc.cli.common import (
    SEED,
    FiniteRange,
    UserError,
    check_model_file,
    debug_option,
    guard,
    load_runtime,
    size_option,
)
from dslc.cli.output import check_output, write_atomic

__all__ = ["default_output", "quantize"]

_CHECKED = 32  # calibration samples the INT8 model's outputs are compared on


def default_output(model: str) -> Path:
    """MODEL.int8.onnx beside MODEL."""
    path = Path(model)
    return path.with_name(f"{path.stem}.int8.onnx")


def _floats(ctx: click.Context, param: click.Parameter, text: str | None) -> Any:
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise click.BadParameter(f"'{text}': give numbers separated by commas") from None
    if not all(math.isfinite(v) for v in values):  # nan reached ORT's 'scale issue' assert
        raise click.BadParameter(f"'{text}': give finite numbers")
    return values


def _names(ctx: click.Context, param: click.Parameter, items: tuple[str, ...]) -> Any:
    return tuple(n.strip() for item in items for n in item.split(",") if n.strip())


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option(
    "--calibrate",
    "source",
    required=True,
    metavar="SOURCE",
    help="Calibration samples: folder:PATH (images, sub-folders included, read with Pillow), "
    "npz:PATH (an .npz with an array 'x' shaped like the input, N first) or digits "
    "(scikit-learn's bundled 8x8 digits, resized to the input).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="The INT8 model to write [default: MODEL.int8.onnx beside MODEL].",
)
@click.option(
    "--samples",
    type=click.IntRange(1, 100_000),
    default=100,
    show_default=True,
    help="Calibration samples to use (drawn with --seed where the source has more).",
)
@click.option(
    "--per-channel/--per-tensor",
    default=True,
    show_default=True,
    help="One weight scale per output channel, or one per tensor.",
)
@click.option(
    "--method",
    type=click.Choice(["minmax", "entropy", "percentile"]),
    default="minmax",
    show_default=True,
    help="How activation ranges are chosen from the calibration outputs.",
)
@click.option(
    "--percentile",
    type=FiniteRange(50, 100, min_open=True),
    default=99.999,
    show_default=True,
    help="The percentile kept by --method percentile.",
)
@click.option(
    "--exclude",
    multiple=True,
    metavar="OP|NODE",
    callback=_names,
    help="Keep these op types (Gemm) or nodes (layer4.2.conv3) in float; repeatable or "
    "comma-separated.",
)
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed for drawing samples.")
@click.option(
    "--mean",
    metavar="M[,M,M]",
    callback=_floats,
    help="Per-channel mean subtracted from pixels in [0, 1] [default: the model's declared "
    "preprocessing, else ImageNet's 0.485,0.456,0.406 for 3 channels, 0 for 1].",
)
@click.option(
    "--std",
    metavar="S[,S,S]",
    callback=_floats,
    help="Per-channel std pixels are divided by [default: the model's declared "
    "preprocessing, else ImageNet's 0.229,0.224,0.225 for 3 channels, 1 for 1].",
)
@size_option(
    "Values for the input's symbolic sizes (images are resized to them), e.g. H=224,W=224."
)
@click.option(
    "--reduce-range",
    is_flag=True,
    help="7-bit weights: for x86 CPUs without VNNI (AVX2 only), where 8-bit products "
    "can saturate; not needed with AVX-512 VNNI or AVX-VNNI.",
)
@click.option(
    "--preprocess/--no-preprocess",
    default=None,
    help="Run onnxruntime's quant_pre_process (shape inference, batch norm folding) first "
    "[default: only for models dslc did not optimise].",
)
@debug_option
def quantize(model: str, output: str | None, **opts: Any) -> None:
    """Quantize MODEL (a float32 .onnx) to INT8 with static calibration: QDQ format, uint8
    activations and int8 weights (per channel), for ONNX Runtime.

    \b
    Examples:
      dslc quantize lenet5.onnx --calibrate digits
      dslc quantize resnet50.onnx --calibrate folder:images/ --samples 200 -o r50.int8.onnx
      dslc quantize net.onnx --calibrate npz:samples.npz --method entropy --exclude Gemm

    Ops that ONNX Runtime's CPU provider has no int8 kernel for (Tanh, LayerNormalization,
    Gelu, ConvTranspose, HardSigmoid) stay in float: it would run them in float between a
    dequantize and a quantize anyway, and their weights would only be dequantized at every run.
    """
    with guard(opts.pop("debug")):
        _quantize(model, output, **opts)


def _settings(rt: Any, opts: dict[str, Any]) -> Any:
    return rt.Settings(
        per_channel=opts["per_channel"],
        method=opts["method"],
        percentile=opts["percentile"],
        exclude=opts["exclude"],
        reduce_range=opts["reduce_range"],
        preprocess=opts["preprocess"],
    )


def _check_input(model: str) -> None:
    path = Path(model)
    if path.suffix == ".xnet":
        raise UserError(
            f"{model}: quantize a compiled model; first: dslc compile {model} -o "
            f"{path.with_suffix('.onnx').name}"
        )
    if not path.exists():
        raise UserError(f"cannot read model {model}: no such file")


def _quantize(model: str, output: str | None, **opts: Any) -> None:
    rt = load_runtime()
    from dslc_runtime import calibrate as cal
    from dslc_runtime import quantize as q

    _check_input(model)
    out = Path(output) if output else default_output(model)
    try:
        check_model_file(model)
        source = cal.parse_source(opts["source"])
        check_output(out, [model, source.path or None])
        proto = q.load_float_model(model)
        spec = _input_spec(proto)
        metadata = {p.key: p.value for p in proto.metadata_props}
        pixels = cal.Pixels(opts["mean"], opts["std"])
        samples, plan = cal.load_samples(
            source, spec, opts["samples"], opts["seed"], pixels, opts["sizes"], metadata
        )
        data, report = q.quantize(model, samples, _settings(q, opts))
        agreement = _compare(model, data, samples[:_CHECKED])
    except rt.RunError as exc:
        raise UserError(str(exc)) from None
    how = plan.describe() if plan else "the npz samples as they are"
    _print(model, source, spec, how, report, agreement, opts)
    write_atomic(out, data)
    click.echo(f"wrote {out} ({len(data) / 2**20:.1f} MiB, from {_mib(model)} MiB)")


def _input_spec(proto: Any) -> Any:
    """The model's one input as a TensorSpec (its dims, symbolic ones by name)."""
    import numpy as np
    from dslc_runtime.specs import TensorSpec
    from onnx import helper

    inits = {t.name for t in proto.graph.initializer}
    arg = next(i for i in proto.graph.input if i.name not in inits)
    dims = tuple(d.dim_param or (d.dim_value or None) for d in arg.type.tensor_type.shape.dim)
    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(arg.type.tensor_type.elem_type))
    except (KeyError, TypeError, ValueError):
        raise UserError(f"the model's input '{arg.name}' is not a tensor of numbers") from None
    return TensorSpec(arg.name, dims, dtype)


def _compare(model: str, data: bytes, samples: Any) -> tuple[int, int, float]:
    """(top-1 agreements, samples, largest |difference|) of the two models' first outputs,
    one sample at a time (images a graph resizes keep their own sizes)."""
    import numpy as np
    from dslc_runtime import Model

    ref, int8 = Model(model, provider="cpu"), Model(data, provider="cpu")
    name = ref.inputs[0].name
    same, diff = 0, 0.0
    for x in samples:
        a = next(iter(ref.run({name: x}).values())).reshape(-1)
        b = next(iter(int8.run({name: x}).values())).reshape(-1)
        same += int(a.argmax() == b.argmax())
        diff = max(diff, float(np.max(np.abs(a - b))))
    return same, len(samples), diff


def _mib(path: str) -> str:
    return f"{Path(path).stat().st_size / 2**20:.1f}"


def _print(
    model: str,
    source: Any,
    spec: Any,
    how: str,
    report: Any,
    agreement: tuple[int, int, float],
    opts: dict[str, Any],
) -> None:
    click.echo(f"model:       {model} (input {spec.describe()})")
    short = (
        f" (all the source has; --samples asked {opts['samples']})"
        if report.samples < opts["samples"]
        else ""
    )
    click.echo(
        f"calibration: {source.describe()}, {report.samples} samples{short}, {opts['method']}"
    )
    click.echo(f"             {how}")
    click.echo(
        f"quantized:   {', '.join(report.quantized_ops)} (QDQ, uint8 activations, int8 weights)"
    )
    click.echo(
        f"weights:     {report.weights} int8, {report.per_channel_weights} with a scale per "
        "output channel"
    )
    if report.float_ops:
        kept = ", ".join(f"{t} x{n}" for t, n in report.float_ops.items())
        click.echo(f"float:       {kept} (no int8 kernel in ONNX Runtime's CPU provider)")
    if report.excluded:
        click.echo(f"excluded:    {', '.join(report.excluded)} (kept in float, --exclude)")
    counts = report.counts
    click.echo(
        f"nodes:       {counts.get('QuantizeLinear', 0)} QuantizeLinear, "
        f"{counts.get('DequantizeLinear', 0)} DequantizeLinear"
        + (", pre-processed (quant_pre_process)" if report.preprocessed else "")
    )
    same, total, diff = agreement
    click.echo(
        f"check:       top-1 agrees with float32 on {same}/{total} calibration samples; "
        f"largest output difference {diff:.4g}"
    )
