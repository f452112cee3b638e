"""torchvision's projection shortcut for residual<... | project>: a strided 1x1 convolution and
batch norm that map the input to the body's output shape, or the identity where they agree."""

from __future__ import annotations

from collections.abc import Callable

from dslc.diagnostics import DiagnosticError
from dslc.expand.scope import Scope, Tensor, claim
from dslc.ir import dims
from dslc.ir.ops import Attrs, BatchNormAttrs, ConvAttrs, Op
from dslc.ir.shapes import Shape, show
from dslc.source import Span

__all__ = ["Add", "project"]

Add = Callable[[str, Op, list[Tensor], Attrs, Span], Tensor]  # the expander's add


def project(
    add: Add, x: Tensor, target: Shape, scope: Scope, span: Span, label: str | None
) -> Tensor:
    """torchvision's projection shortcut: conv1x1(C, stride) -> bn, or identity."""
    assert x.shape is not None
    if x.shape == target:
        return x
    stride = _stride(x.shape, target)
    if stride is None:
        raise DiagnosticError(
            "E0301",
            f"'project' cannot map {show(x.shape)} to {show(target)}",
            span,
            "write the shortcut out in full",
        )
    if label:
        claim(scope, label, span)
    sub = scope.unit(label, "project")
    cin, cout = x.shape[1], target[1]
    assert isinstance(cin, int) and isinstance(cout, int)
    conv = ConvAttrs(cout, cin, (1, 1), stride, (0, 0, 0, 0), (1, 1), 1, False)
    # named like torchvision's downsample = nn.Sequential(conv, bn): .0 and .1
    y = add(sub.full("0"), Op.CONV, [x], conv, span)
    return add(sub.full("1"), Op.BATCHNORM, [y], BatchNormAttrs(cout, 1e-5, 0.1), span)


def _stride(x: Shape, target: Shape) -> tuple[int, int] | None:
    """The (h, w) stride of a 1x1 conv that maps x's map to target's, if there is one."""
    if len(x) != 4 or len(target) != 4:
        return None
    out = []
    for n, t in zip(x[2:], target[2:]):
        if n == t:
            out.append(1)
            continue
        if not (isinstance(n, int) and isinstance(t, int)):
            r = dims.ratio(n, t)  # symbolic: H/4 -> H/8 is a stride of 2
            if r is None or r.denominator != 1 or dims.ceildiv(n, int(r)) != t:
                return None
            out.append(int(r))
            continue
        if t < 1:
            return None
        s = -(-n // t)  # the smallest stride giving t outputs, if any does
        if -(-n // s) != t:
            return None
        out.append(s)
    return out[0], out[1]
