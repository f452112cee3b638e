"""The analysis stage: every pass over an expanded graph, run once, into one Analysis."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dslc.diagnostics import Diagnostic, Sink
from dslc.expand.evaluate import Value
from dslc.expand.limits import Limits
from dslc.ir.graph import Graph
from dslc.ir.shapes import Shapes
from dslc.passes.cost import Costs, count_costs
from dslc.passes.limits import check_limits
from dslc.passes.memory import Memory, activation_memory
from dslc.passes.receptive_field import RFs, alignment_warnings, receptive_fields
from dslc.passes.rounding import Rounded, rounded_dims
from dslc.passes.sizes import SizeRule, size_rules, unsatisfiable

__all__ = ["Analysis", "analyse"]


@dataclass(frozen=True, slots=True)
class Analysis:
    """A checked graph and everything the passes found out about it."""

    graph: Graph
    shapes: Shapes
    costs: Costs
    rfs: RFs
    memory: Memory
    params: Mapping[str, Value]
    warnings: tuple[Diagnostic, ...]
    sizes: tuple[SizeRule, ...] = ()  # the symbolic input sizes it is valid for
    given: tuple[tuple[str, int], ...] = ()  # symbolic sizes given values (compiler.fix_sizes)
    rounded: Rounded = field(default_factory=dict)  # dims that round at some valid size


def analyse(
    graph: Graph, shapes: Shapes, params: Mapping[str, Value], limits: Limits | None, sink: Sink
) -> Analysis:
    """Run every pass over a graph whose shapes are known; raise CompileError on a limit.

    limits None: no limit is checked (a part of a graph that was checked whole)."""
    costs = count_costs(graph, shapes)
    if limits is not None:
        check_limits(graph, costs, limits, sink)
        sink.raise_if_errors()
    rfs = receptive_fields(graph, shapes)
    warnings = (*sink.items, *alignment_warnings(graph, rfs))
    memory = activation_memory(graph, shapes)
    sizes = size_rules(graph, shapes)
    unsatisfiable(graph, shapes, sizes, sink)
    sink.raise_if_errors()
    rounded = rounded_dims(graph, shapes, sizes)
    return Analysis(graph, shapes, costs, rfs, memory, params, warnings, sizes, rounded=rounded)
