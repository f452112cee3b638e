"""E03xx: shapes that do not fit together; W0701: receptive fields that do not line up."""

from __future__ import annotations

from dslc.codes.entry import CodeEntry, entry

__all__ = ["CODES"]


CODES: tuple[CodeEntry, ...] = (
    entry(
        "E0301",
        "residual body and shortcut disagree",
        """residual<body> adds its input to the body's output, so both must have the same
       shape. When the body changes the channels or the size, state the shortcut:
       residual<body | shortcut>, or residual<body | project> for torchvision's projection
       (conv1x1 with the stride, then bn). The help line writes the shortcut out.""",
        "residual<conv3x3(64, stride=2) -> bn>\n",
        "residual<conv3x3(64, stride=2) -> bn | project>\n",
    ),
    entry(
        "E0302",
        "branches of add<...> or mul<...> disagree",
        """add<a | b | ...> sums its branches element by element, so every branch must give
       the same shape. mul<a | b | ...> and gate<body> multiply element by element: equal
       shapes, or an N x C x H x W map times an N x C x 1 x 1 one (a squeeze-and-excitation
       gate, gate<gap -> conv1x1(C / 4) -> relu -> conv1x1(C) -> sigmoid>), whose channels
       must be the map's.""",
        "add<conv3x3(8) | conv3x3(16)>\n",
        "add<conv3x3(16) | conv3x3(16)>\n",
    ),
    entry(
        "E0303",
        "concat of different spatial sizes",
        """concat<...> joins its branches along the channels; their heights and widths must
       agree. Pad or pool the branches so that they do.""",
        "concat<conv3x3(8) | conv3x3(8, stride=2)>\n",
        "concat<conv3x3(8, stride=2) | conv3x3(8, stride=2)>\n",
    ),
    entry(
        "E0304",
        "groups do not divide the channels",
        """A grouped convolution splits the input and output channels into groups=g equal
       parts, so g must divide both. groups=C (the input channels) is a depthwise conv.""",
        "conv3x3(32, groups=2)\n",
        "conv3x3(30, groups=3)\n",
    ),
    entry(
        "E0305",
        "a spatial size collapses to zero",
        """A layer's window (with its padding and dilation) is larger than its input, or a
       stride or factor shrinks the map to nothing. The message names the layer and the
       help line gives the smallest network input for which every layer fits.""",
        "maxpool2 -> maxpool2 -> maxpool2 -> maxpool2 -> maxpool2 -> maxpool2\n",
        "maxpool2 -> maxpool2 -> maxpool2 -> maxpool2 -> maxpool2\n",
    ),
    entry(
        "E0306",
        "dense layer fed a spatial map",
        """dense is fully connected and needs a flat (N, features) input. Put 'flatten'
       before it, or 'gap -> flatten' to average each channel first.""",
        "conv3x3(8) -> gap -> dense(10)\n",
        "conv3x3(8) -> gap -> flatten -> dense(10)\n",
    ),
    entry(
        "E0307",
        "spatial layer after flatten",
        """Convolutions, pools, batch norm over maps and upsampling need an N x C x H x W
       input; after 'flatten' the tensor is (N, features). Move the spatial layers before
       'flatten'.""",
        "flatten -> conv3x3(8)\n",
        "conv3x3(8) -> flatten\n",
    ),
    entry(
        "E0308",
        "channel counts do not match",
        """A layer with fixed weights (a hand-written 4-D kernel) expects a number of input
       channels that the incoming tensor does not have.""",
        "conv(kernel=[[[[1]], [[1]]]], bias=false)\n",
        "conv(kernel=[[[[1]], [[1]], [[1]]]], bias=false)\n",
    ),
    entry(
        "E0309",
        "fractional scaling of a symbolic size",
        """For an input of any size (3 x H x W), upsample can only scale H and W by whole
       factors, because the result must be a whole number for every H and W. Use a whole
       factor, or upsample(to=NAME) to match a named tensor.""",
        "network example\ninput image: 3 x H x W\nupsample(1.5)\n",
        "network example\ninput image: 3 x H x W\nupsample(2)\n",
        head=False,
    ),
    entry(
        "E0320",
        "channels do not split evenly",
        """chunk(n, i) cuts the channels into n equal chunks, shuffle(groups) into equal
       groups, and depth_to_space(b) moves every b*b channels into one b x b block, so the
       incoming channel count must divide by n, by groups, or by b*b. The help line lists the
       numbers it divides by; channels(a, b) takes any range of channels.""",
        "conv1x1(6) -> shuffle(4)\n",
        "conv1x1(8) -> shuffle(4)\n",
    ),
    entry(
        "E0321",
        "channel range outside the input",
        """channels(a, b) takes the channels a..b-1 (b excluded, as in a Python slice;
       negative indices count from the end, and b defaults to C). Unlike a Python slice, a
       range that reaches past the input's channels, or that selects no channel, is an
       error rather than silently cut short.""",
        "conv1x1(8) -> channels(4, 12)\n",
        "conv1x1(8) -> channels(4, 8)\n",
    ),
    entry(
        "E0322",
        "size does not divide by the block",
        """space_to_depth(b) (PyTorch's pixel_unshuffle) moves every b x b block of pixels
       into the channels, so the height and the width must be multiples of b. Pad or crop
       the map before it. For an input of any size (3 x H x W) this is not an error but a
       condition on the input size, which check and summary state.""",
        "maxpool3(stride=2) -> space_to_depth(2)\n",
        "maxpool2 -> space_to_depth(2)\n",
    ),
    entry(
        "E0323",
        "no input size works",
        """With a symbolic input size (3 x H x W) each layer's size is a formula in H and W,
       and some layers need it to divide (space_to_depth, a merge of a pooled and an
       upsampled branch). Where the formulas can never fit (a 2*H-1 that must be even), the
       network is valid for no input size at all: the message names the layer that fails,
       and the help line its input's shape.""",
        "network example\ninput image: 3 x H x W\ndeconv(8, k=3, stride=2, pad=1) -> space_to_depth(2)\n",
        "network example\ninput image: 3 x H x W\ndeconv(8, k=4, stride=2, pad=1) -> space_to_depth(2)\n",
        head=False,
    ),
    entry(
        "W0701",
        "branches merged with misaligned receptive fields",
        """add<...>, concat<...> and residual<...> combine, at each position, one unit of every
       branch. When the branches' receptive fields are centred at different input pixels, or
       step across the input by different jumps, the combined units look at regions that do
       not line up: a window of even size, or a stride without matching padding, shifts a
       branch's centres by half a pixel or more. The network compiles and runs all the same,
       so this is a warning. The help lines give each branch's centre, jump and size; pad the
       branches alike (odd kernels with half padding keep the centres) to align them.""",
        "concat<maxpool2 | conv1x1(8, stride=2)>\n",
        "concat<maxpool2 | conv(8, k=2, stride=2)>\n",
        severity="warning",
    ),
)
