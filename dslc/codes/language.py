"""E00xx-E02xx: syntax errors, unknown names and bad arguments, arithmetic."""

from __future__ import annotations

from dslc.codes.entry import CodeEntry, entry

__all__ = ["CODES"]


CODES: tuple[CodeEntry, ...] = (
    entry(
        "E0001",
        "unexpected token",
        """The parser met a word or symbol where the grammar does not allow it. The message
       lists what could come next, written as you would type it. The most common cause is
       two layers without '->' between them.""",
        "conv3x3(16) -> relu maxpool2\n",
        "conv3x3(16) -> relu -> maxpool2\n",
    ),
    entry(
        "E0002",
        "unexpected character",
        """The file contains a character that is not part of the language, such as ';' or a
       multiplication sign '×' in a shape (write 'x' with spaces around it).""",
        "conv3x3(16) -> relu; maxpool2\n",
        "conv3x3(16) -> relu -> maxpool2\n",
    ),
    entry(
        "E0003",
        "unexpected end of file",
        """The file ends while something is still open: a '(' or '[' without its closing
       bracket, or a combinator such as residual<...> without its '>'.""",
        "residual<conv3x3(3) -> relu\n",
        "residual<conv3x3(3) -> relu>\n",
    ),
    entry(
        "E0101",
        "unknown layer, block or tensor",
        """A chain names a layer that is neither built in nor defined as a block (or imported),
       or refers to a tensor name that no '@name' defines. The help line suggests the
       closest known names.""",
        "conv3x3(16) -> rellu\n",
        "conv3x3(16) -> relu\n",
    ),
    entry(
        "E0102",
        "unknown name in an expression",
        """An argument uses a name that is not a parameter of the network or of the enclosing
       block. Inside expressions the known names are those parameters, and C, H and W for
       the incoming tensor's channels, height and width. A network parameter may use only
       parameters declared before it.""",
        "network example(width = 16)\ninput image: 3 x 32 x 32\nconv3x3(widht)\n",
        "network example(width = 16)\ninput image: 3 x 32 x 32\nconv3x3(width)\n",
        head=False,
    ),
    entry(
        "E0103",
        "unknown keyword argument",
        """A layer or block is called with a keyword it does not have. The help line lists
       the closest keyword, or all of them.""",
        "conv3x3(16) -> bn(epsilon=0.001)\n",
        "conv3x3(16) -> bn(eps=0.001)\n",
    ),
    entry(
        "E0104",
        "wrong number of arguments",
        """A layer or block gets more positional arguments than it takes, or misses one it
       needs (a conv needs its output channels; a block needs every parameter without a
       default).""",
        "block cbr(c) = conv3x3(c) -> bn -> relu\ncbr(16, 3)\n",
        "block cbr(c, stride = 1) = conv3x3(c, stride=stride) -> bn -> relu\ncbr(16, 3)\n",
    ),
    entry(
        "E0105",
        "wrong kind of value",
        """An argument has the wrong type or an impossible value: a word where a number is
       needed, a fraction where a whole number is needed, a pad that is neither a number,
       a pair, four numbers, 'same' nor 'valid', a probability outside [0, 1), and so on.""",
        "conv3x3(16, pad=full)\n",
        "conv3x3(16, pad=same)\n",
    ),
    entry(
        "E0106",
        "a name is defined twice",
        """Two layers, taps (@name), blocks, outputs or parameters share a name in the same
       scope, or a block or tap would hide a built-in layer. Names must be unique so that
       every layer has its own hierarchical name in summaries and ONNX.""",
        "stem: conv3x3(16) -> stem: conv3x3(16)\n",
        "stem: conv3x3(16) -> stem2: conv3x3(16)\n",
    ),
    entry(
        "E0107",
        "the same thing is given twice",
        """An argument is given twice, or a kernel size is both in the layer's name
       (conv3x3) and given with k=. Use one or the other: conv3x3(16) or conv(16, k=3).""",
        "conv3x3(16, k=5)\n",
        "conv(16, k=5)\n",
    ),
    entry(
        "E0201",
        "not a whole number",
        """'/' must divide exactly, because channel counts and sizes are whole numbers; use
       '//' to round down. Sizes that depend on a symbolic input (H, W) allow only whole
       scaling.""",
        "conv3x3(64 / 3)\n",
        "conv3x3(64 // 3)\n",
    ),
    entry(
        "E0202",
        "division by zero",
        """An expression divides by zero (with '/', '//' or '%'), often through a parameter
       that is 0.""",
        "conv3x3(64 // (2 - 2))\n",
        "conv3x3(64 // 2)\n",
    ),
    entry(
        "E0203",
        "a value is too small",
        """A count or size is below its minimum: channels, kernel sizes, strides and factors
       must be positive, repetition counts and pads at least 0.""",
        "conv3x3(4 - 8)\n",
        "conv3x3(8 - 4)\n",
    ),
)
