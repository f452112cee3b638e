"""The `dslc` command line: the command group and its commands, one module each.

Exit codes: 0 success, 1 the input is wrong, 2 command-line usage, 3 an internal error,
130 interrupted (Ctrl-C), 143 terminated (SIGTERM), 141 stdout closed by its reader
(`dslc ... | head`; nothing is printed).
"""

from __future__ import annotations

import click

from dslc import __version__
from dslc.cli import bench, check, explain, fmt, graph, rf, run, summary, weights
from dslc.cli import compile as compile_

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="dslc")
def main() -> None:
    """dslc compiles .xnet network descriptions to ONNX and tells you everything about them.

    \b
    Typical use:
      dslc check models/resnet50.xnet        # report every problem
      dslc summary models/resnet50.xnet      # shapes, params, MACs, receptive fields
      dslc compile models/resnet50.xnet      # write resnet50.onnx
      dslc run resnet50.onnx                 # run it on ONNX Runtime (CUDA, else CPU)
      dslc explain E0301                     # what an error code means, with an example

    \b
    Exit codes: 0 success, 1 the input is wrong, 2 command-line usage,
    3 an internal error (a bug in dslc; --debug shows the traceback).
    """


COMMANDS = (compile_, check, weights, summary, fmt, explain, run, bench, rf, graph)
for module in COMMANDS:
    main.add_command(getattr(module, module.__name__.rpartition(".")[2]))
