"""The resource limit over a whole graph: parameters and buffers in total."""

from __future__ import annotations

from dslc.diagnostics import Sink
from dslc.expand.limits import Limits, raise_hint
from dslc.ir.graph import Graph
from dslc.passes.cost import Costs

__all__ = ["check_limits"]


def check_limits(graph: Graph, costs: Costs, limits: Limits, sink: Sink) -> None:
    """Report a parameter total beyond the limit, naming the largest layer."""
    params = sum(c.params + c.buffers for c in costs.values())
    if params > limits.params:
        node = max(graph.nodes, key=lambda n: costs[n.id].params if n.id in costs else 0)
        own = costs[node.id].params
        sink.error(
            "E0602",
            f"the network holds {params:,} parameters and buffers "
            f"({_gib(params)} of float32 weights), over the limit of "
            f"{limits.params:,}",
            node.span,
            f"the largest layer is '{node.name}' with {own:,} parameters",
            raise_hint("params", params),
        )


def _gib(n: int) -> str:
    size = n * 4 / 2**30
    return f"{size:,.1f} GiB" if size < 10**6 else f"{n * 4:.2e} bytes"
