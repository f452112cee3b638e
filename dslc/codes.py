"""`dslc explain CODE`: a longer explanation of every diagnostic code, with an example.

Each example is a real program (tests compile it and check that it gives its code, and that
its fix compiles), so the explanations cannot drift away from the compiler.
"""

from __future__ import annotations

from dataclasses import dataclass

HEAD = "network example\ninput image: 3 x 32 x 32\n"


Weights = tuple[tuple[str, tuple[int, ...], str], ...]  # name, shape, dtype


@dataclass(frozen=True, slots=True)
class Explanation:
    """What a code means, a program that produces it, and the same program fixed."""

    code: str
    title: str
    text: str
    example: str
    fix: str | None = None  # None where the fix is outside the file (a missing import)
    files: tuple[tuple[str, str], ...] = ()  # other files beside example.xnet
    sets: tuple[str, ...] = ()  # --set options the example is compiled with
    weights: Weights = ()  # the example is compiled with --weights w.npz holding these
    fixed_weights: Weights = ()  # ... and its fix with these


def _e(
    code: str,
    title: str,
    text: str,
    example: str,
    fix: str | None = None,
    files: tuple[tuple[str, str], ...] = (),
    sets: tuple[str, ...] = (),
    head: bool = True,
    weights: Weights = (),
    fixed_weights: Weights = (),
) -> Explanation:
    pre = HEAD if head else ""
    return Explanation(
        code,
        title,
        " ".join(text.split()),
        pre + example,
        None if fix is None else pre + fix,
        files,
        sets,
        weights,
        fixed_weights,
    )


# A small network for the weights examples: conv.weight (4, 3, 3, 3), conv.bias (4),
# fc.weight (10, 4), fc.bias (10).
_NET = "conv: conv3x3(4) -> gap -> flatten -> fc: dense(10)\n"
_FITS: Weights = (
    ("conv.weight", (4, 3, 3, 3), "float32"),
    ("conv.bias", (4,), "float32"),
    ("fc.weight", (10, 4), "float32"),
    ("fc.bias", (10,), "float32"),
)


EXPLANATIONS = (
    _e(
        "E0001",
        "unexpected token",
        """The parser met a word or symbol where the grammar does not allow it. The message
       lists what could come next, written as you would type it. The most common cause is
       two layers without '->' between them.""",
        "conv3x3(16) -> relu maxpool2\n",
        "conv3x3(16) -> relu -> maxpool2\n",
    ),
    _e(
        "E0002",
        "unexpected character",
        """The file contains a character that is not part of the language, such as ';' or a
       multiplication sign '×' in a shape (write 'x' with spaces around it).""",
        "conv3x3(16) -> relu; maxpool2\n",
        "conv3x3(16) -> relu -> maxpool2\n",
    ),
    _e(
        "E0003",
        "unexpected end of file",
        """The file ends while something is still open: a '(' or '[' without its closing
       bracket, or a combinator such as residual<...> without its '>'.""",
        "residual<conv3x3(3) -> relu\n",
        "residual<conv3x3(3) -> relu>\n",
    ),
    _e(
        "E0101",
        "unknown layer, block or tensor",
        """A chain names a layer that is neither built in nor defined as a block (or imported),
       or refers to a tensor name that no '@name' defines. The help line suggests the
       closest known names.""",
        "conv3x3(16) -> rellu\n",
        "conv3x3(16) -> relu\n",
    ),
    _e(
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
    _e(
        "E0103",
        "unknown keyword argument",
        """A layer or block is called with a keyword it does not have. The help line lists
       the closest keyword, or all of them.""",
        "conv3x3(16) -> bn(epsilon=0.001)\n",
        "conv3x3(16) -> bn(eps=0.001)\n",
    ),
    _e(
        "E0104",
        "wrong number of arguments",
        """A layer or block gets more positional arguments than it takes, or misses one it
       needs (a conv needs its output channels; a block needs every parameter without a
       default).""",
        "block cbr(c) = conv3x3(c) -> bn -> relu\ncbr(16, 3)\n",
        "block cbr(c, stride = 1) = conv3x3(c, stride=stride) -> bn -> relu\ncbr(16, 3)\n",
    ),
    _e(
        "E0105",
        "wrong kind of value",
        """An argument has the wrong type or an impossible value: a word where a number is
       needed, a fraction where a whole number is needed, a pad that is neither a number,
       a pair, four numbers, 'same' nor 'valid', a probability outside [0, 1), and so on.""",
        "conv3x3(16, pad=full)\n",
        "conv3x3(16, pad=same)\n",
    ),
    _e(
        "E0106",
        "a name is defined twice",
        """Two layers, taps (@name), blocks, outputs or parameters share a name in the same
       scope, or a block or tap would hide a built-in layer. Names must be unique so that
       every layer has its own hierarchical name in summaries and ONNX.""",
        "stem: conv3x3(16) -> stem: conv3x3(16)\n",
        "stem: conv3x3(16) -> stem2: conv3x3(16)\n",
    ),
    _e(
        "E0107",
        "the same thing is given twice",
        """An argument is given twice, or a kernel size is both in the layer's name
       (conv3x3) and given with k=. Use one or the other: conv3x3(16) or conv(16, k=3).""",
        "conv3x3(16, k=5)\n",
        "conv(16, k=5)\n",
    ),
    _e(
        "E0201",
        "not a whole number",
        """'/' must divide exactly, because channel counts and sizes are whole numbers; use
       '//' to round down. Sizes that depend on a symbolic input (H, W) allow only whole
       scaling.""",
        "conv3x3(64 / 3)\n",
        "conv3x3(64 // 3)\n",
    ),
    _e(
        "E0202",
        "division by zero",
        """An expression divides by zero (with '/', '//' or '%'), often through a parameter
       that is 0.""",
        "conv3x3(64 // (2 - 2))\n",
        "conv3x3(64 // 2)\n",
    ),
    _e(
        "E0203",
        "a value is too small",
        """A count or size is below its minimum: channels, kernel sizes, strides and factors
       must be positive, repetition counts and pads at least 0.""",
        "conv3x3(4 - 8)\n",
        "conv3x3(8 - 4)\n",
    ),
    _e(
        "E0301",
        "residual body and shortcut disagree",
        """residual<body> adds its input to the body's output, so both must have the same
       shape. When the body changes the channels or the size, state the shortcut:
       residual<body | shortcut>, or residual<body | project> for torchvision's projection
       (conv1x1 with the stride, then bn). The help line writes the shortcut out.""",
        "residual<conv3x3(64, stride=2) -> bn>\n",
        "residual<conv3x3(64, stride=2) -> bn | project>\n",
    ),
    _e(
        "E0302",
        "branches of add<...> disagree",
        """add<a | b | ...> sums its branches element by element, so every branch must give
       the same shape.""",
        "add<conv3x3(8) | conv3x3(16)>\n",
        "add<conv3x3(16) | conv3x3(16)>\n",
    ),
    _e(
        "E0303",
        "concat of different spatial sizes",
        """concat<...> joins its branches along the channels; their heights and widths must
       agree. Pad or pool the branches so that they do.""",
        "concat<conv3x3(8) | conv3x3(8, stride=2)>\n",
        "concat<conv3x3(8, stride=2) | conv3x3(8, stride=2)>\n",
    ),
    _e(
        "E0304",
        "groups do not divide the channels",
        """A grouped convolution splits the input and output channels into groups=g equal
       parts, so g must divide both. groups=C (the input channels) is a depthwise conv.""",
        "conv3x3(32, groups=2)\n",
        "conv3x3(30, groups=3)\n",
    ),
    _e(
        "E0305",
        "a spatial size collapses to zero",
        """A layer's window (with its padding and dilation) is larger than its input, or a
       stride or factor shrinks the map to nothing. The message names the layer and the
       help line gives the smallest network input for which every layer fits.""",
        "maxpool2 -> maxpool2 -> maxpool2 -> maxpool2 -> maxpool2 -> maxpool2\n",
        "maxpool2 -> maxpool2 -> maxpool2 -> maxpool2 -> maxpool2\n",
    ),
    _e(
        "E0306",
        "dense layer fed a spatial map",
        """dense is fully connected and needs a flat (N, features) input. Put 'flatten'
       before it, or 'gap -> flatten' to average each channel first.""",
        "conv3x3(8) -> gap -> dense(10)\n",
        "conv3x3(8) -> gap -> flatten -> dense(10)\n",
    ),
    _e(
        "E0307",
        "spatial layer after flatten",
        """Convolutions, pools, batch norm over maps and upsampling need an N x C x H x W
       input; after 'flatten' the tensor is (N, features). Move the spatial layers before
       'flatten'.""",
        "flatten -> conv3x3(8)\n",
        "conv3x3(8) -> flatten\n",
    ),
    _e(
        "E0308",
        "channel counts do not match",
        """A layer with fixed weights (a hand-written 4-D kernel) expects a number of input
       channels that the incoming tensor does not have.""",
        "conv(kernel=[[[[1]], [[1]]]], bias=false)\n",
        "conv(kernel=[[[[1]], [[1]], [[1]]]], bias=false)\n",
    ),
    _e(
        "E0309",
        "fractional scaling of a symbolic size",
        """For an input of any size (3 x H x W), upsample can only scale H and W by whole
       factors, because the result must be a whole number for every H and W. Use a whole
       factor, or upsample(to=NAME) to match a named tensor.""",
        "network example\ninput image: 3 x H x W\nupsample(1.5)\n",
        "network example\ninput image: 3 x H x W\nupsample(2)\n",
        head=False,
    ),
    _e(
        "E0401",
        "a block calls itself",
        """Blocks may call other blocks but not, directly or through others, themselves:
       the network would be infinite. Use repetition (block(...) * n) instead.""",
        "block a(c) = conv3x3(c) -> b(c)\nblock b(c) = a(c)\na(8)\n",
        "block a(c) = conv3x3(c)\nblock b(c) = a(c) * 2\nb(8)\n",
    ),
    _e(
        "E0402",
        "file not found",
        """A file to compile or import cannot be read: it does not exist, or it is not UTF-8
       text. Import paths are relative to the folder of the importing file.""",
        'import "missing.xnet"\n' + HEAD + "relu\n",
        head=False,
    ),
    _e(
        "E0403",
        "import cycle",
        """Files import each other in a circle. Move the shared blocks into a file that
       imports nothing from the others.""",
        'import "example.xnet"\n' + HEAD + "relu\n",
        HEAD + "relu\n",
        head=False,
    ),
    _e(
        "E0404",
        "imported file is not a block library",
        """An imported file may define blocks and import other files, nothing else: a
       network, input or chain in it would be ignored. Import block libraries only.""",
        'import "net.xnet"\n' + HEAD + "cbr(8)\n",
        'import "blocks.xnet"\n' + HEAD + "cbr(8)\n",
        files=(
            ("net.xnet", "network other\nblock cbr(c) = conv3x3(c) -> bn -> relu\n"),
            ("blocks.xnet", "block cbr(c) = conv3x3(c) -> bn -> relu\n"),
        ),
        head=False,
    ),
    _e(
        "E0502",
        "--set of an undeclared name",
        """--set NAME=VALUE overrides a parameter declared in the network line,
       'network name(classes = 1000)'. The name must be one of those parameters, and the
       value an expression.""",
        "network example(classes = 10)\ninput image: 3 x 32 x 32\n"
        "gap -> flatten -> dense(classes)\n",
        "network example(classes = 10, width = 8)\ninput image: 3 x 32 x 32\n"
        "conv3x3(width) -> gap -> flatten -> dense(classes)\n",
        sets=("width=16",),
        head=False,
    ),
    _e(
        "E0503",
        "parameter without a default",
        """Every network parameter needs a default value (or a --set on the command line) so
       that the file compiles on its own.""",
        "network example(classes)\ninput image: 3 x 32 x 32\ngap -> flatten -> dense(classes)\n",
        "network example(classes = 10)\ninput image: 3 x 32 x 32\n"
        "gap -> flatten -> dense(classes)\n",
        head=False,
    ),
    _e(
        "E0504",
        "no input",
        """A network needs an input line giving its shape without the batch, e.g.
       'input image: 3 x 224 x 224', or 'input image: 3 x H x W' for any size.""",
        "network example\nconv3x3(8)\n",
        "network example\ninput image: 3 x 32 x 32\nconv3x3(8)\n",
        head=False,
    ),
    _e(
        "E0505",
        "no layers",
        """The file declares a network but no chain of layers. A file of blocks only is a
       library: import it from a network file instead of compiling it.""",
        "block cbr(c) = conv3x3(c) -> bn -> relu\n",
        "block cbr(c) = conv3x3(c) -> bn -> relu\ncbr(8)\n",
    ),
    _e(
        "E0506",
        "two networks in one file",
        """A file describes one network, so it has at most one 'network' line.""",
        "network other\nrelu\n",
        "relu\n",
    ),
    _e(
        "E0601",
        "the network grows too large",
        """A repetition count, or the number of layers after expanding every block, is over
       its limit (10,000 repetitions, 200,000 layers). These limits stop a typo such as
       '* 100000' from using up the machine's memory; raise them with --limit repeat=N or
       --limit layers=N if you mean it.""",
        "relu * 100000\n",
        "relu * 10\n",
    ),
    _e(
        "E0602",
        "too many parameters",
        """The network's parameters and buffers together are over the limit (1,000,000,000
       by default, 4 GB of float32 weights), checked before any weight is allocated. The
       help line names the largest layer. Raise the limit with --limit params=N (suffixes
       k, M, G) if you mean it.""",
        "conv3x3(30000) -> conv3x3(30000) -> conv3x3(30000)\n",
        "conv3x3(300) -> conv3x3(300) -> conv3x3(300)\n",
    ),
    _e(
        "E0603",
        "nesting too deep",
        """Brackets or operators nest more than 100 deep, or blocks call blocks more than 50
       deep. Such programs are refused up front instead of exhausting Python's stack; name
       parts of the expression as parameters, or flatten the block structure.""",
        "conv3x3(" + "(" * 101 + "8" + ")" * 101 + ")\n",
        "conv3x3(8)\n",
    ),
    _e(
        "E0604",
        "number too large",
        """A number literal has more than 100 digits, overflows a 64-bit float (1e400), or
       an expression's value grows past 2**256. No network needs such numbers.""",
        "upsample(1e400)\n",
        "upsample(4)\n",
    ),
    _e(
        "E0605",
        "tensor too large",
        """A tensor has more channels (default limit 1,048,576) or more elements per sample
       (default 2**31) than the limits allow; running the network would exhaust memory.
       Raise the limits with --limit channels=N or --limit tensor=N if you mean it.""",
        "conv1x1(2000000)\n",
        "conv1x1(2000)\n",
    ),
    _e(
        "E0701",
        "a tensor is missing from the weights file",
        """`dslc compile --weights W` needs every tensor the network expects, by name: the
       layer's hierarchical name plus .weight, .bias, .running_mean or .running_var. 'dslc
       weights FILE.xnet' lists them. Label the layers so that their names are the file's
       keys (the zoo uses torchvision's state_dict keys).""",
        _NET,
        _NET,
        weights=_FITS[:3],
        fixed_weights=_FITS,
    ),
    _e(
        "E0702",
        "the weights file has a tensor the network does not expect",
        """Every tensor in the weights file must belong to a layer of the network (PyTorch's
       num_batches_tracked counters excepted). An unexpected name usually means a layer is
       named differently in the .xnet file; the help line suggests the closest expected
       name, most often one that is missing.""",
        _NET,
        _NET,
        weights=(*_FITS, ("head.bias", (10,), "float32")),
        fixed_weights=_FITS,
    ),
    _e(
        "E0703",
        "a tensor of the weights file has the wrong shape",
        """A tensor's shape differs from what the layer needs: a different number of channels
       or classes, a kernel of another size, or a dense layer's (in, out) written the other
       way round (dslc, like PyTorch, stores (out, in)).""",
        _NET,
        _NET,
        weights=(*_FITS[:2], ("fc.weight", (4, 10), "float32"), _FITS[3]),
        fixed_weights=_FITS,
    ),
    _e(
        "E0704",
        "a tensor of the weights file has the wrong dtype",
        """Weights are loaded as float32; a tensor saved in another type (float16, bfloat16,
       float64, an integer type) is refused rather than converted silently. Convert the
       weights to float32 before saving them.""",
        _NET,
        _NET,
        weights=(*_FITS[:3], ("fc.bias", (10,), "float16")),
        fixed_weights=_FITS,
    ),
    _e(
        "E0705",
        "the weights file cannot be read",
        """--weights reads .safetensors files and .npz archives of plain numeric arrays.
       Other formats (PyTorch's pickled .pt/.pth), damaged files and .npz archives that
       need pickle (object arrays) are refused: nothing in a weights file is ever
       executed.""",
        _NET,
        _NET,
        weights=(("fc.weight", (10, 4), "object"),),
        fixed_weights=_FITS,
    ),
)

BY_CODE = {e.code: e for e in EXPLANATIONS}


def listing() -> str:
    """One line per code: code and title."""
    lines = [f"{e.code}  {e.title}" for e in EXPLANATIONS]
    return "\n".join(lines) + "\n\nRun 'dslc explain CODE' for an explanation with an example.\n"


def render(e: Explanation, diagnostics: str) -> str:
    """The full explanation; `diagnostics` is what the compiler says about the example."""
    out = [f"{e.code}: {e.title}", "", *_wrap(e.text), "", "Example (example.xnet):", ""]
    out += [f"    {line}" for line in e.example.splitlines()]
    for name, text in e.files:
        out += ["", f"with {name}:", ""] + [f"    {line}" for line in text.splitlines()]
    sets = "".join(f" --set {s}" for s in e.sets)
    if e.weights:
        out += ["", "with w.npz holding:", ""] + _tensors(e.weights)
        out += ["", f"$ dslc compile example.xnet --weights w.npz{sets}", diagnostics.rstrip("\n")]
        out += ["", "Fixed: w.npz holding", ""] + _tensors(e.fixed_weights)
        return "\n".join(out) + "\n"
    out += ["", f"$ dslc check example.xnet{sets}", diagnostics.rstrip("\n")]
    if e.fix is not None:
        out += ["", "Fixed:", ""] + [f"    {line}" for line in e.fix.splitlines()]
    return "\n".join(out) + "\n"


def _tensors(ws: Weights) -> list[str]:
    return [f"    {name}  ({', '.join(map(str, shape))})  {dtype}" for name, shape, dtype in ws]


def _wrap(text: str, width: int = 88) -> list[str]:
    lines: list[str] = []
    line = ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return [*lines, line] if line else lines


def run_example(e: Explanation) -> tuple[str, tuple[str, ...]]:
    """Compile the example (and its fix, when `fix`) in a scratch folder.

    Returns what `dslc check` prints on stderr, and the codes of its diagnostics.
    """
    return _compile(e, e.example, e.weights)


def run_fix(e: Explanation) -> tuple[str, tuple[str, ...]]:
    """Compile the fixed example; no diagnostics means the fix works."""
    assert e.fix is not None
    return _compile(e, e.fix, e.fixed_weights)


def _compile(
    e: Explanation, text: str, weights: Weights | None = None
) -> tuple[str, tuple[str, ...]]:
    import tempfile
    from pathlib import Path

    from dslc.compiler import compile_file, parse_overrides
    from dslc.diagnostics import CompileError

    with tempfile.TemporaryDirectory(prefix="dslc-explain-") as tmp:
        for name, body in (*e.files, ("example.xnet", text)):
            (Path(tmp) / name).write_text(body, encoding="utf-8")
        try:
            analysis = compile_file(Path(tmp) / "example.xnet", parse_overrides(list(e.sets)))
            diags = analysis.warnings
            if weights:
                from dslc.backend import weights as w

                _save_npz(Path(tmp) / "w.npz", weights)
                w.match(analysis, w.read(Path(tmp) / "w.npz"), "w.npz")
        except CompileError as exc:
            diags = exc.diagnostics
        shown = "\n\n".join(d.render() for d in diags)
        shown = shown.replace(f"({tmp}/)", "(./)").replace(f"{tmp}/", "")
    return shown, tuple(d.code for d in diags)


def _save_npz(path: object, ws: Weights) -> None:
    """Write zero tensors of the given names, shapes and dtypes (object: needs pickle)."""
    import numpy as np

    arrays = {}
    for name, shape, dtype in ws:
        if dtype == "object":
            arrays[name] = np.array([None] * int(np.prod(shape)), dtype=object)
        else:
            arrays[name] = np.zeros(shape, dtype)
    np.savez(path, **arrays)  # type: ignore[arg-type]
