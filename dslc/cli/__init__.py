"""The `dslc` command line: the command group and its commands, one module each.

Exit codes: 0 success, 1 the input is wrong, 2 command-line usage, 3 an internal error,
130 interrupted (Ctrl-C), 143 terminated (SIGTERM), 141 stdout closed by its reader
(`dslc ... | head`; nothing is printed).
"""

from __future__ import annotations

from types import ModuleType

import click

from dslc import __version__

__all__ = ["COMMANDS", "main"]

# each command is the function of the same name in dslc.cli.<name>
COMMANDS = (
    "compile",
    "check",
    "weights",
    "summary",
    "fmt",
    "explain",
    "run",
    "bench",
    "rf",
    "graph",
    "diff",
    "export",
    "lsp",
    "quantize",
    "torch",
    "train",
    "decompile",
)


def _module(name: str) -> ModuleType:
    """A command's module, imported by name (statically: dslc imports nothing dynamically)."""
    match name:
        case "compile":
            from dslc.cli import compile as compile_

            return compile_
        case "check":
            from dslc.cli import check

            return check
        case "weights":
            from dslc.cli import weights

            return weights
        case "summary":
            from dslc.cli import summary

            return summary
        case "fmt":
            from dslc.cli import fmt

            return fmt
        case "explain":
            from dslc.cli import explain

            return explain
        case "run":
            from dslc.cli import run

            return run
        case "bench":
            from dslc.cli import bench

            return bench
        case "rf":
            from dslc.cli import rf

            return rf
        case "diff":
            from dslc.cli import diff

            return diff
        case "export":
            from dslc.cli import export

            return export
        case "lsp":
            from dslc.cli import lsp

            return lsp
        case "quantize":
            from dslc.cli import quantize

            return quantize
        case "torch":
            from dslc.cli import pytorch

            return pytorch
        case "train":
            from dslc.cli import train

            return train
        case "decompile":
            from dslc.cli import decompile

            return decompile
    from dslc.cli import graph

    return graph


class _Commands(click.Group):
    """Imports a command's module when that command is asked for: `dslc check` does not load
    what `dslc weights` or `dslc run` need (start-up, bench/README.md)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS and cmd_name not in self.commands:
            self.add_command(getattr(_module(cmd_name), cmd_name))
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in COMMANDS:  # a typo: click suggests from every command
            for name in COMMANDS:
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)


@click.group(
    cls=_Commands,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="dslc")
def main() -> None:
    """dslc compiles .xnet network descriptions to ONNX and tells you everything about them.

    \b
    Typical use:
      dslc check models/resnet50.xnet        # report every problem
      dslc summary models/resnet50.xnet      # shapes, params, MACs, receptive fields
      dslc compile models/resnet50.xnet      # write resnet50.onnx
      dslc run resnet50.onnx                 # run it on ONNX Runtime (CUDA, else CPU)
      dslc diff a.xnet b.xnet                # two networks side by side
      dslc export resnet50.onnx --triton repo  # a Triton Inference Server model
      dslc quantize resnet50.onnx --calibrate folder:imgs/  # INT8 for ONNX Runtime
      dslc torch models/resnet50.xnet -o resnet50.py  # the network as a PyTorch module
      dslc train models/lenet5.xnet --data digits  # train it with PyTorch
      dslc explain E0301                     # what an error code means, with an example

    \b
    Exit codes: 0 success, 1 the input is wrong, 2 command-line usage,
    3 an internal error (a bug in dslc; --debug shows the traceback).
    """
