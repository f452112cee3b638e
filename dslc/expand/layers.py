"""The built-in layers: names as people say them (`conv3x3`, `maxpool2`), arguments, attributes."""

from __future__ import annotations

from collections.abc import Mapping

from dslc.expand.args import (
    REQUIRED,
    number,
    pair,
)
from dslc.expand.evaluate import Word
from dslc.expand.rules import (
    CONV_SIG,
    POOL,
    Ctx,
    Layer,
    bn,
    conv,
    deconv,
    dense,
    dropout,
    odd,
    pool,
    sig,
    simple,
    split_name,
    upsample,
)
from dslc.expand.rules_channels import block, channel_range, chunk, pad_channels, shuffle
from dslc.expand.rules_modern import (
    gelu,
    layernorm,
    linear,
    prelu,
    scale,
    stochastic_depth,
)
from dslc.ir.ops import (
    AdaptivePoolAttrs,
    AxisAttrs,
    LrnAttrs,
    Op,
    Pair,
    ScalarAttrs,
)

__all__ = ["LAYERS", "Ctx", "Layer", "all_names", "lookup", "split_name"]

LAYERS: Mapping[str, Layer] = {
    "conv": Layer(CONV_SIG, conv, True),
    "deconv": Layer(
        sig(
            ("c", REQUIRED),
            ("k", None),
            ("stride", 1),
            ("pad", 0),
            ("output_pad", 0),
            ("dilation", 1),
            ("groups", 1),
            ("bias", True),
            positional=1,
        ),
        deconv,
        True,
    ),
    "maxpool": Layer(sig(*POOL, ("dilation", 1), positional=1), pool(Op.MAXPOOL), True),
    "avgpool": Layer(sig(*POOL, ("count_include_pad", True), positional=1), pool(Op.AVGPOOL), True),
    "gap": Layer(sig(), simple(Op.GLOBAL_AVGPOOL)),
    "gmp": Layer(sig(), simple(Op.GLOBAL_MAXPOOL)),
    "adaptive_avgpool": Layer(
        sig(("size", REQUIRED), positional=1),
        simple(Op.ADAPTIVE_AVGPOOL, lambda a: AdaptivePoolAttrs(pair(a["size"], "size"))),
    ),
    "bn": Layer(sig(("eps", 1e-5), ("momentum", 0.1)), bn),
    "lrn": Layer(
        sig(("size", 5), ("alpha", 1e-4), ("beta", 0.75), ("k", 1.0), positional=1),
        simple(
            Op.LRN,
            lambda a: LrnAttrs(
                odd(a["size"], "size"),
                number(a["alpha"], "alpha"),
                number(a["beta"], "beta"),
                number(a["k"], "k"),
            ),
        ),
    ),
    "dropout": Layer(sig(("p", 0.5), positional=1), simple(Op.DROPOUT, dropout)),
    "relu": Layer(sig(), simple(Op.RELU)),
    "leakyrelu": Layer(
        sig(("alpha", 0.01), positional=1),
        simple(Op.LEAKY_RELU, lambda a: ScalarAttrs(number(a["alpha"], "alpha"))),
    ),
    "relu6": Layer(sig(), simple(Op.RELU6)),
    "sigmoid": Layer(sig(), simple(Op.SIGMOID)),
    "tanh": Layer(sig(), simple(Op.TANH)),
    "elu": Layer(
        sig(("alpha", 1.0), positional=1),
        simple(Op.ELU, lambda a: ScalarAttrs(number(a["alpha"], "alpha"))),
    ),
    "softmax": Layer(sig(), simple(Op.SOFTMAX, lambda a: AxisAttrs(1))),
    "flatten": Layer(sig(), simple(Op.FLATTEN, lambda a: AxisAttrs(1))),
    "dense": Layer(sig(("n", REQUIRED), ("bias", True), positional=1), dense),
    "upsample": Layer(
        sig(
            ("factor", None),
            ("to", None),
            ("mode", Word("nearest", None)),
            ("align_corners", False),
            positional=1,
        ),
        upsample,
    ),
    "identity": Layer(sig(), simple(Op.IDENTITY)),
    # channel and block rearrangements
    "chunk": Layer(sig(("n", REQUIRED), ("i", REQUIRED), positional=2), chunk),
    "channels": Layer(sig(("a", REQUIRED), ("b", None), positional=2), channel_range),
    "shuffle": Layer(sig(("groups", REQUIRED), positional=1), shuffle),
    "space_to_depth": Layer(sig(("b", REQUIRED), positional=1), block(Op.SPACE_TO_DEPTH)),
    "depth_to_space": Layer(sig(("b", REQUIRED), positional=1), block(Op.DEPTH_TO_SPACE)),
    "pad_channels": Layer(sig(("before", REQUIRED), ("after", None), positional=2), pad_channels),
    "silu": Layer(sig(), simple(Op.SILU)),
    "hardswish": Layer(sig(), simple(Op.HARDSWISH)),
    "hardsigmoid": Layer(sig(), simple(Op.HARDSIGMOID)),
    "gelu": Layer(sig(("approximate", Word("none", None))), gelu),
    "prelu": Layer(sig(("shared", False), positional=1), prelu),
    "layernorm": Layer(sig(("eps", 1e-6), positional=1), layernorm),
    "linear": Layer(sig(("n", REQUIRED), ("bias", True), positional=1), linear),
    "scale": Layer(sig(("init", 1e-6), positional=1), scale),
    "stochastic_depth": Layer(
        sig(("p", REQUIRED), ("mode", Word("row", None)), positional=1), stochastic_depth
    ),
}


def lookup(name: str) -> tuple[str, Layer, Pair | None] | None:
    """The built-in layer a call names, with the kernel size from its name."""
    base, size = split_name(name)
    layer = LAYERS.get(base)
    if layer is None or (size is not None and not layer.sized):
        return None
    return base, layer, size


def all_names() -> list[str]:
    """Names to suggest for a misspelt layer."""
    extra = [
        "conv3x3",
        "conv1x1",
        "conv5x5",
        "conv7x7",
        "maxpool2",
        "maxpool3",
        "avgpool2",
        "deconv4x4",
    ]
    return list(LAYERS) + extra
