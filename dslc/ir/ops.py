"""The IR: a closed set of ops, per-op attributes, nodes and the graph. Pure data; no onnx."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from dslc.ir.dims import Dim

__all__ = [
    "AdaptivePoolAttrs",
    "Attrs",
    "AxisAttrs",
    "BatchNormAttrs",
    "BlockAttrs",
    "ChannelSliceAttrs",
    "ConvAttrs",
    "DeconvAttrs",
    "DenseAttrs",
    "GeluAttrs",
    "InputAttrs",
    "LayerNormAttrs",
    "LrnAttrs",
    "NoAttrs",
    "Op",
    "OpaqueAttrs",
    "PadChannelsAttrs",
    "Pads",
    "Pair",
    "PoolAttrs",
    "PreluAttrs",
    "ScalarAttrs",
    "ScaleAttrs",
    "ShuffleAttrs",
    "StochasticDepthAttrs",
    "UpsampleAttrs",
]

Pair = tuple[int, int]
Pads = tuple[int, int, int, int]  # top, left, bottom, right (ONNX order: begins, then ends)


class Op(enum.Enum):
    """Every layer kind the compiler knows."""

    INPUT = "input"
    CONV = "conv"
    DECONV = "deconv"
    MAXPOOL = "maxpool"
    AVGPOOL = "avgpool"
    GLOBAL_AVGPOOL = "gap"
    GLOBAL_MAXPOOL = "gmp"
    ADAPTIVE_AVGPOOL = "adaptive_avgpool"
    BATCHNORM = "bn"
    LRN = "lrn"
    DROPOUT = "dropout"
    RELU = "relu"
    LEAKY_RELU = "leakyrelu"
    RELU6 = "relu6"
    SIGMOID = "sigmoid"
    TANH = "tanh"
    ELU = "elu"
    SOFTMAX = "softmax"
    FLATTEN = "flatten"
    DENSE = "dense"
    UPSAMPLE = "upsample"
    IDENTITY = "identity"
    ADD = "add"
    CONCAT = "concat"
    # channel and block rearrangements (no weights, no arithmetic)
    CHANNELS = "channels"
    SHUFFLE = "shuffle"
    SPACE_TO_DEPTH = "space_to_depth"
    DEPTH_TO_SPACE = "depth_to_space"
    PAD_CHANNELS = "pad_channels"
    MUL = "mul"
    SILU = "silu"
    HARDSWISH = "hardswish"
    HARDSIGMOID = "hardsigmoid"
    GELU = "gelu"
    PRELU = "prelu"
    LAYERNORM = "layernorm"
    LINEAR = "linear"
    SCALE = "scale"
    STOCHASTIC_DEPTH = "stochastic_depth"
    OPAQUE = "onnx_op"  # an imported ONNX op dslc has no layer for: counted, not understood


@dataclass(frozen=True, slots=True)
class InputAttrs:
    """A network input: its shape, batch first."""

    shape: tuple[Dim, ...]


@dataclass(frozen=True, slots=True)
class ConvAttrs:
    """Convolution; fixed_weight/fixed_bias hold a hand-written kernel, flattened (OIHW)."""

    out_channels: int
    in_channels: int
    kernel: Pair
    stride: Pair
    pads: Pads
    dilation: Pair
    groups: int
    bias: bool
    fixed_weight: tuple[float, ...] | None = None
    fixed_bias: float | None = None


@dataclass(frozen=True, slots=True)
class DeconvAttrs:
    """Transposed convolution."""

    out_channels: int
    in_channels: int
    kernel: Pair
    stride: Pair
    pads: Pads
    output_padding: Pair
    dilation: Pair
    groups: int
    bias: bool


@dataclass(frozen=True, slots=True)
class PoolAttrs:
    """Max or average pooling."""

    kernel: Pair
    stride: Pair
    pads: Pads
    ceil: bool
    dilation: Pair = (1, 1)
    count_include_pad: bool = True


@dataclass(frozen=True, slots=True)
class AdaptivePoolAttrs:
    """Adaptive average pooling to a fixed output size."""

    size: Pair


@dataclass(frozen=True, slots=True)
class BatchNormAttrs:
    """Batch normalisation (inference form)."""

    channels: int
    eps: float
    momentum: float


@dataclass(frozen=True, slots=True)
class LrnAttrs:
    """Local response normalisation across channels."""

    size: int
    alpha: float
    beta: float
    k: float


@dataclass(frozen=True, slots=True)
class ScalarAttrs:
    """Ops with one float setting: dropout's p, leaky relu's and elu's alpha."""

    value: float


@dataclass(frozen=True, slots=True)
class AxisAttrs:
    """Softmax, flatten and concat: the axis they work on."""

    axis: int


@dataclass(frozen=True, slots=True)
class DenseAttrs:
    """Fully connected layer (weight stored out x in, like torch.nn.Linear)."""

    out_features: int
    in_features: int
    bias: bool


@dataclass(frozen=True, slots=True)
class UpsampleAttrs:
    """Resize by a factor or to another tensor's spatial size (`to` is that node's id)."""

    mode: str  # "nearest" | "bilinear"
    scale: tuple[float, float] | None
    to: int | None
    align_corners: bool = False


@dataclass(frozen=True, slots=True)
class GeluAttrs:
    """GELU: exact (erf) or PyTorch's tanh approximation."""

    tanh: bool = False


@dataclass(frozen=True, slots=True)
class PreluAttrs:
    """PReLU: one learned slope per channel, or one shared by all (`slopes` == 1)."""

    slopes: int


@dataclass(frozen=True, slots=True)
class LayerNormAttrs:
    """Layer norm over the channels at every position (or over the features of a flat input)."""

    channels: int
    eps: float


@dataclass(frozen=True, slots=True)
class ScaleAttrs:
    """A learned per-channel scale: its one tensor's shape ([C, 1, 1], or [F] when flat)."""

    shape: tuple[int, ...]
    init: float


@dataclass(frozen=True, slots=True)
class StochasticDepthAttrs:
    """Stochastic depth (identity at inference): drop probability and torchvision's mode."""

    p: float
    mode: str  # "row" | "batch"


@dataclass(frozen=True, slots=True)
class OpaqueAttrs:
    """An imported op dslc cannot express: its type, the output shape ONNX inferred and the
    parameters of its stored inputs."""

    op_type: str
    domain: str
    shape: tuple[Dim, ...]
    params: int


@dataclass(frozen=True, slots=True)
class NoAttrs:
    """Ops without settings."""


@dataclass(frozen=True, slots=True)
class ChannelSliceAttrs:
    """Channels start..stop-1 of the input (`channels(a, b)`, and `chunk(n, i)`)."""

    start: int
    stop: int


@dataclass(frozen=True, slots=True)
class ShuffleAttrs:
    """Channel shuffle in `groups` groups (ShuffleNet)."""

    groups: int


@dataclass(frozen=True, slots=True)
class BlockAttrs:
    """space_to_depth / depth_to_space: the side of the square block."""

    block: int


@dataclass(frozen=True, slots=True)
class PadChannelsAttrs:
    """Zero channels added before and after the input's channels."""

    before: int
    after: int


Attrs = (
    InputAttrs
    | ConvAttrs
    | DeconvAttrs
    | PoolAttrs
    | AdaptivePoolAttrs
    | BatchNormAttrs
    | LrnAttrs
    | ScalarAttrs
    | AxisAttrs
    | DenseAttrs
    | UpsampleAttrs
    | NoAttrs
    | ChannelSliceAttrs
    | ShuffleAttrs
    | BlockAttrs
    | PadChannelsAttrs
    | GeluAttrs
    | PreluAttrs
    | LayerNormAttrs
    | ScaleAttrs
    | StochasticDepthAttrs
    | OpaqueAttrs
)
