"""E04xx-E06xx: blocks and imports, the parts of a program, and the resource limits."""

from __future__ import annotations

from dslc.codes.entry import HEAD, CodeEntry, entry

__all__ = ["CODES"]


CODES: tuple[CodeEntry, ...] = (
    entry(
        "E0401",
        "a block calls itself",
        """Blocks may call other blocks but not, directly or through others, themselves:
       the network would be infinite. Use repetition (block(...) * n) instead.""",
        "block a(c) = conv3x3(c) -> b(c)\nblock b(c) = a(c)\na(8)\n",
        "block a(c) = conv3x3(c)\nblock b(c) = a(c) * 2\nb(8)\n",
    ),
    entry(
        "E0402",
        "file not found or not .xnet text",
        """A file to compile or import cannot be read as .xnet text: it does not exist, it is
       a folder, a named pipe or a device rather than a regular file, it is larger than
       --limit source allows (1 MiB by default), it holds NUL bytes, or it is not UTF-8 (the
       error points at the first byte that is not). Import paths are relative to the folder
       of the importing file.""",
        'import "missing.xnet"\n' + HEAD + "relu\n",
        head=False,
    ),
    entry(
        "E0403",
        "import cycle",
        """Files import each other in a circle. Move the shared blocks into a file that
       imports nothing from the others.""",
        'import "example.xnet"\n' + HEAD + "relu\n",
        HEAD + "relu\n",
        head=False,
    ),
    entry(
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
    entry(
        "E0405",
        "import outside the project",
        """An import names a relative path to an .xnet file, resolved against the importing
       file's folder, and it must stay inside the import root: the folder of the file being
       compiled, unless the environment variable DSLC_IMPORT_ROOT=DIR widens it. Absolute paths, paths that climb out of
       the root (directly or through a symbolic link) and files other than .xnet are refused,
       so checking a file on someone's behalf never reads, or prints, files elsewhere.""",
        'import "../blocks.xnet"\n' + HEAD + "cbr(8)\n",
        'import "blocks.xnet"\n' + HEAD + "cbr(8)\n",
        files=(("blocks.xnet", "block cbr(c) = conv3x3(c) -> bn -> relu\n"),),
        head=False,
    ),
    entry(
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
    entry(
        "E0503",
        "parameter without a default",
        """Every network parameter needs a default value (or a --set on the command line) so
       that the file compiles on its own.""",
        "network example(classes)\ninput image: 3 x 32 x 32\ngap -> flatten -> dense(classes)\n",
        "network example(classes = 10)\ninput image: 3 x 32 x 32\n"
        "gap -> flatten -> dense(classes)\n",
        head=False,
    ),
    entry(
        "E0504",
        "no input",
        """A network needs an input line giving its shape without the batch, e.g.
       'input image: 3 x 224 x 224', or 'input image: 3 x H x W' for any size.""",
        "network example\nconv3x3(8)\n",
        "network example\ninput image: 3 x 32 x 32\nconv3x3(8)\n",
        head=False,
    ),
    entry(
        "E0505",
        "no layers",
        """The file declares a network but no chain of layers. A file of blocks only is a
       library: import it from a network file instead of compiling it.""",
        "block cbr(c) = conv3x3(c) -> bn -> relu\n",
        "block cbr(c) = conv3x3(c) -> bn -> relu\ncbr(8)\n",
    ),
    entry(
        "E0506",
        "two networks in one file",
        """A file describes one network, so it has at most one 'network' line.""",
        "network other\nrelu\n",
        "relu\n",
    ),
    entry(
        "E0507",
        "the batch axis written out",
        """An input is declared without its batch axis: 'input image: 3 x 224 x 224' is an
       N x 3 x 224 x 224 tensor, N chosen when the model runs. Written as PyTorch prints
       it, '1 x 3 x 224 x 224', the input would be N x 1 x 3 x 224 x 224, which no layer
       takes. Drop the leading 1 (or N).""",
        "network example\ninput image: 1 x 3 x 32 x 32\nconv3x3(8)\n",
        "network example\ninput image: 3 x 32 x 32\nconv3x3(8)\n",
        head=False,
    ),
    entry(
        "E0601",
        "the network grows too large",
        """A repetition count, or the number of layers after expanding every block, is over
       its limit (10,000 repetitions, 200,000 layers). These limits stop a typo such as
       '* 100000' from using up the machine's memory; raise them with --limit repeat=N or
       --limit layers=N if you mean it.""",
        "relu * 100000\n",
        "relu * 10\n",
    ),
    entry(
        "E0602",
        "too many parameters",
        """The network's parameters and buffers together are over the limit (1,000,000,000
       by default, 4 GB of float32 weights), checked before any weight is allocated. The
       help line names the largest layer. Raise the limit with --limit params=N (suffixes
       k, M, G) if you mean it.""",
        "conv3x3(30000) -> conv3x3(30000) -> conv3x3(30000)\n",
        "conv3x3(300) -> conv3x3(300) -> conv3x3(300)\n",
    ),
    entry(
        "E0603",
        "nesting too deep",
        """Brackets or operators nest more than 100 deep, or blocks call blocks more than 50
       deep. Such programs are refused up front instead of exhausting Python's stack; name
       parts of the expression as parameters, or flatten the block structure.""",
        "conv3x3(" + "(" * 101 + "8" + ")" * 101 + ")\n",
        "conv3x3(8)\n",
    ),
    entry(
        "E0604",
        "number too large",
        """A number literal has more than 100 digits, overflows a 64-bit float (1e400), or
       an expression's value grows past 2**256. No network needs such numbers.""",
        "upsample(1e400)\n",
        "upsample(4)\n",
    ),
    entry(
        "E0605",
        "tensor too large",
        """A tensor has more channels (default limit 1,048,576) or more elements per sample
       (default 2**31) than the limits allow; running the network would exhaust memory.
       Raise the limits with --limit channels=N or --limit tensor=N if you mean it.""",
        "conv1x1(2000000)\n",
        "conv1x1(2000)\n",
    ),
)
