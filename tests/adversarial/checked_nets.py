"""A Hypothesis strategy for meaningful .xnet programs that use the whole vocabulary, mostly on
symbolic input sizes (`input x: 3 x H x W`), for tests/adversarial/test_checked_runs.py.

The strategy tracks the channel count only (every channel rule is met, so most programs
compile); spatial sizes are left to the compiler, whose size rules (`valid for H, W even`)
are what the tests hold it to: down-then-up branches merged with the unpooled map, strided
and ceil-mode pools, transposed convs, adaptive pools, taps resized to, space_to_depth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

Draw = Callable[..., Any]

ACTIVATIONS = [
    "relu",
    "relu6",
    "sigmoid",
    "tanh",
    "elu",
    "leakyrelu(0.1)",
    "hardswish",
    "hardsigmoid",
    "silu",
    "gelu",
    "gelu(approximate=tanh)",
    "prelu",
    "prelu(shared=true)",
    "softmax",
]
KEEPERS = [
    "bn",
    "bn(eps=0.001)",
    "lrn(3)",
    "layernorm",
    "layernorm(1e-5)",
    "scale(0.5)",
    "dropout(0.2)",
    "stochastic_depth(0.1)",
    "stochastic_depth(0.2, mode=batch)",
    "identity",
]
# layers that change the size: each merged with its input somewhere makes a size rule
RESIZERS = [
    "maxpool2",
    "avgpool2",
    "maxpool3(stride=2, pad=1)",
    "maxpool(3, stride=2, ceil=true)",
    "avgpool(2, ceil=true)",
    "avgpool3(stride=2, pad=1, count_include_pad=false)",
    "avgpool(3, stride=3, pad=1, ceil=true)",
    "maxpool(2, stride=1)",
    "maxpool(3, stride=1, pad=2, dilation=2)",
    "upsample(2)",
    "upsample((2, 1))",
    "upsample(3, mode=bilinear)",
    "upsample(2, mode=bilinear, align_corners=true)",
    "adaptive_avgpool(3)",
    "adaptive_avgpool((2, 5))",
    "adaptive_avgpool(7)",
    "maxpool(2, stride=3, ceil=true)",
    "avgpool(3, stride=2, pad=1, ceil=true)",
    "avgpool(2, stride=3, ceil=true, count_include_pad=false)",
    "maxpool(3, stride=2, pad=1, dilation=2, ceil=true)",
    "upsample(1.5)",
    "upsample(0.5, mode=bilinear)",
    "upsample((1.5, 2), mode=bilinear, align_corners=true)",
    "upsample(to=x, mode=bilinear, align_corners=true)",
]


@dataclass
class Ctx:
    """What the program has so far: taps and their channels, the inputs, numbering."""

    taps: dict[str, int] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    n: int = 0

    def fresh(self) -> str:
        self.n += 1
        return f"t{self.n}"


@dataclass(frozen=True)
class Net:
    """A program, and the class-name file its `labels` statement names (name, line count)."""

    text: str
    labels: tuple[str, int] | None = None


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def conv(draw: Draw, c: int, keep: bool) -> tuple[str, int]:
    """A plain, grouped, depthwise, dilated, strided or asymmetric convolution; with `keep`,
    one that keeps the spatial size."""
    kind = draw(st.sampled_from(["plain", "plain", "depthwise", "grouped", "generic"]))
    if kind == "depthwise":
        mult = draw(st.sampled_from([1, 1, 2]))
        stride = draw(st.sampled_from(["", ", stride=2"] if not keep else [""]))
        k = draw(st.sampled_from(["conv3x3", "conv5x5", "conv1x3"]))
        return f"{k}({'C' if mult == 1 else f'{mult} * C'}, groups=C{stride})", c * mult
    out = draw(st.sampled_from([c, 4, 6, 8, 12, 2 * c]))
    if kind == "grouped":
        common = [g for g in _divisors(c) if out % g == 0 and g > 1] or [1]
        g = draw(st.sampled_from(common))
        return f"conv3x3({out}, groups={g}, bias=false)", out
    if kind == "generic":
        k = draw(st.sampled_from(["(1, 3)", "(3, 1)", "2", "4"]))
        pads = [", pad=same"] if keep else ["", ", pad=same", ", pad=valid", ", pad=(0, 1, 1, 0)"]
        return f"conv({out}, k={k}{draw(st.sampled_from(pads))})", out
    name = draw(st.sampled_from(["conv1x1", "conv3x3", "conv3x3", "conv5x5", "conv1x7", "conv7x1"]))
    extras = ["", "", ", dilation=2", ", pad=same"]
    extras += [] if keep else [", stride=2", ", stride=2, pad=same", ", pad=0", ", stride=3"]
    bias = draw(st.sampled_from(["", ", bias=false"]))
    return f"{name}({out}{draw(st.sampled_from(extras))}{bias})", out


def deconv(draw: Draw, c: int, keep: bool) -> tuple[str, int]:
    """A transposed convolution, usually upsampling by 2."""
    out = draw(st.sampled_from([c, 4, 8]))
    forms = ["k=3, pad=1", "k=1"]
    if not keep:
        forms += [
            "k=2, stride=2",
            "k=3, stride=2, pad=1, output_pad=1",
            "k=4, stride=2, pad=1",
            "k=3",
            "k=3, stride=2, pad=1",
            "k=3, stride=3, dilation=2, pad=2",
        ]
    g = draw(st.sampled_from([g for g in _divisors(c) if out % g == 0]))
    groups = f", groups={g}" if g > 1 else ""
    return f"deconv({out}, {draw(st.sampled_from(forms))}{groups})", out


# down then up again: merged with the input, these hold only for some sizes
DOWN = [
    "maxpool2",
    "avgpool2",
    "maxpool3(stride=2, pad=1)",
    "avgpool(2, ceil=true)",
    "maxpool(3, stride=2, ceil=true)",
    "avgpool3(stride=2, pad=1, count_include_pad=false)",
    "conv3x3(C, stride=2)",
    "conv(C, k=2, stride=2)",
    "conv3x3(C, stride=2, pad=same)",
    "conv3x3(C, groups=C, stride=2)",
]
UP = [
    "upsample(2)",
    "upsample(2, mode=bilinear)",
    "upsample(2, mode=bilinear, align_corners=true)",
    "deconv(C, k=2, stride=2)",
    "deconv(C, k=4, stride=2, pad=1)",
    "deconv(C, k=3, stride=2, pad=1, output_pad=1)",
    "{to}",
]


def down_up(draw: Draw, c: int, ctx: Ctx) -> tuple[str, int]:
    """Down and back up (a U-Net's step), as a group; `@here` resizes to the input's size."""
    form = draw(st.sampled_from(["pool", "pool", "s2d", "adaptive", "gap"]))
    here = ctx.fresh()
    to = f"upsample(to={here}{draw(st.sampled_from(['', ', mode=bilinear']))})"
    if form == "s2d" and c <= 8:
        inner = draw(st.sampled_from(["", " -> conv1x1(C) -> relu"]))
        return f"(identity @{here} -> space_to_depth(2){inner} -> depth_to_space(2))", c
    if form == "adaptive":
        size = draw(st.sampled_from(["3", "(2, 5)", "1"]))
        return f"(identity @{here} -> adaptive_avgpool({size}) -> {to})", c
    if form == "gap":
        return f"(identity @{here} -> {draw(st.sampled_from(['gap', 'gmp']))} -> {to})", c
    down = draw(st.lists(st.sampled_from(DOWN), min_size=1, max_size=2))
    ups = [draw(st.sampled_from(UP)).format(to=to) for _ in down]
    if to in ups and len(ups) > 1:
        ups = [to]
    return f"(identity @{here} -> {' -> '.join(down)} -> {' -> '.join(ups)})", c


def channel_op(draw: Draw, c: int, keep: bool) -> tuple[str, int] | None:
    """Shuffle, chunk, channel ranges, space_to_depth and back, channel padding."""
    kind = draw(st.sampled_from(["shuffle", "chunk", "channels", "s2d", "d2s", "pad"]))
    divs = [d for d in _divisors(c) if d > 1]
    if kind == "shuffle" and divs:
        return f"shuffle({draw(st.sampled_from(divs))})", c
    if kind == "chunk" and divs:
        n = draw(st.sampled_from(divs))
        return f"chunk({n}, {draw(st.integers(0, n - 1))})", c // n
    if kind == "channels" and c > 1:
        a = draw(st.integers(0, c - 1))
        return f"channels({a})", c - a
    if kind == "s2d" and c <= 8 and not keep:
        return "space_to_depth(2)", 4 * c
    if kind == "d2s" and c % 4 == 0 and not keep:
        return "depth_to_space(2)", c // 4
    if kind == "pad":
        a, b = draw(st.integers(0, 2)), draw(st.integers(0, 2))
        if a == b:
            return f"pad_channels({a})", c + 2 * a
        return f"pad_channels({a}, {b})", c + a + b
    return None


def _fit(text: str, c: int, want: int) -> str:
    """The chain, ending at `want` channels."""
    return text if c == want else f"{text} -> conv1x1({want})"


def chain(draw: Draw, c: int, ctx: Ctx, depth: int, n: int, keep: bool) -> tuple[str, int]:
    """A chain of up to n elements from c channels (keeping the size, with `keep`)."""
    parts = []
    for _ in range(draw(st.integers(1, n))):
        text, c = element(draw, c, ctx, depth, keep)
        parts.append(text)
    return " -> ".join(parts), c


def _branch(draw: Draw, c: int, ctx: Ctx, depth: int, here: str) -> tuple[str, int]:
    """A merge's branch: from the merge's input, or from a tap resized to it."""
    if ctx.taps and draw(st.integers(0, 3)) == 0:
        tap = draw(st.sampled_from(sorted(ctx.taps)))
        body, out = chain(draw, ctx.taps[tap], ctx, depth + 1, 2, True)
        return f"{tap} -> {body} -> upsample(to={here})", out
    return chain(draw, c, ctx, depth + 1, 3, True)


def combinator(draw: Draw, c: int, ctx: Ctx, depth: int) -> tuple[str, int]:
    """residual, add, concat, dense, gate and mul, with branches that may resize and come back."""
    kind = draw(st.sampled_from(["residual", "project", "add", "concat", "dense", "gate", "mul"]))
    if kind == "gate":
        r = draw(st.sampled_from([1, 2, 4]))
        act = draw(st.sampled_from(["sigmoid", "hardsigmoid"]))
        return f"gate<gap -> conv1x1({r}) -> relu -> conv1x1({c}) -> {act}>", c
    if kind == "project":
        body, out = chain(draw, c, ctx, depth + 1, 3, False)
        return f"residual<{body} | project>", out
    if kind == "dense":
        body, out = chain(draw, c, ctx, depth + 1, 3, True)
        return f"dense<{body}>", c + out
    here = ctx.fresh()
    branches = []
    outs = []
    for _ in range(draw(st.integers(1 if kind in ("residual", "concat") else 2, 3))):
        body, out = _branch(draw, c, ctx, depth, here)
        if kind != "concat":
            body, out = _fit(body, out, c), c
        branches.append(body)
        outs.append(out)
    return f"identity @{here} -> {kind}<{' | '.join(branches)}>", sum(
        outs
    ) if kind == "concat" else c


def element(draw: Draw, c: int, ctx: Ctx, depth: int, keep: bool = False) -> tuple[str, int]:
    """One element of a chain, from c channels: (text, channels after it)."""
    kinds = ["conv", "conv", "act", "keep", "resize", "updown", "channel", "deconv", "linear"]
    kinds += ["block", "cond"]
    kinds += ["comb", "comb", "repeat"] if depth < 3 else []
    kind = draw(st.sampled_from(kinds))
    got: tuple[str, int] | None = None
    if kind == "conv":
        got = conv(draw, c, keep)
    elif kind == "act":
        got = draw(st.sampled_from(ACTIVATIONS)), c
    elif kind == "keep":
        got = draw(st.sampled_from(KEEPERS)), c
    elif kind == "resize" and not keep:
        got = draw(st.sampled_from(RESIZERS)), c
    elif kind in ("resize", "updown"):
        got = down_up(draw, c, ctx)
    elif kind == "channel":
        got = channel_op(draw, c, keep)
    elif kind == "deconv":
        got = deconv(draw, c, keep)
    elif kind == "linear":
        out = draw(st.sampled_from([4, 8, c]))
        got = f"linear({out})", out
    elif kind == "block":
        s = "1" if keep else draw(st.sampled_from(["1", "2"]))
        got = draw(
            st.sampled_from(
                [
                    (f"unit(C, {s})", c),
                    (f"unit(8, {s}) * 2 as i", 8),
                    ("se(C)<conv1x1(2) -> relu>", c),
                    (f"mb(C, t=2, stride={s})", c),
                ]
            )
        )
    elif kind == "cond":
        got = (
            draw(
                st.sampled_from(
                    [
                        "(if C > 4 then conv3x3(C) -> bn -> relu else hardswish)",
                        "(if C == 3 then identity)",
                        "(if n > 1 and C < 100 then dropout(0.1) -> gelu)",
                    ]
                )
            ),
            c,
        )
    elif kind == "comb":
        got = combinator(draw, c, ctx, depth)
    elif kind == "repeat":
        body, out = chain(draw, c, ctx, depth + 1, 2, True)
        body = _fit(body, out, c)
        count = draw(st.sampled_from(["0", "1", "2", "(n - 1)"]))
        got = f"({body}) * {count}", c
    text, out = got or ("relu", c)
    if depth == 0 and draw(st.integers(0, 5)) == 0:
        tap = ctx.fresh()
        ctx.taps[tap] = out
        text = f"{text} @{tap}"
    return text, out


BLOCKS = [
    "block unit(c, s = 1) = conv3x3(c, stride=s, bias=false) -> bn -> relu",
    "block se(c)<body> = gate<gap -> body -> conv1x1(c) -> sigmoid>",
    (
        "block mb(c, t = 2, stride = 1) = (if stride == 1 then residual<conv1x1(C * t) -> bn -> "
        "relu6 -> conv3x3(C, groups=C) -> conv1x1(c) -> bn> else conv3x3(C * t, groups=C, "
        "stride=stride) -> hardswish -> conv1x1(c) -> bn)"
    ),
]

_TAILS = [
    ("", None),
    ("-> gap -> flatten -> dense({k})", "k"),
    ("-> adaptive_avgpool(2) -> flatten -> dense({k}) -> softmax", "k"),
    ("-> gmp -> flatten -> layernorm -> linear({k})", "k"),
    ("-> conv1x1({k})", None),
    ("-> conv1x1({k}) -> upsample(to=x, mode=bilinear)", None),
]


@st.composite
def nets(draw: Draw) -> Net:
    """A meaningful program: header, inputs, optional preprocessing and labels, one chain."""
    cin = draw(st.sampled_from([1, 3, 3, 4]))
    shape = draw(
        st.sampled_from(
            ["H x W", "H x W", "H x W", "S x S", "H x 12", "12 x W", "24 x 20", "17 x 9"]
            + ["5 x 7", "1 x 1", "3 x 2", "9 x 9"]
        )
    )
    lines = ["network g(c = 8, n = 2, k = 5)", *BLOCKS, f"input x: {cin} x {shape}"]
    ctx = Ctx(taps={"x": cin}, inputs=["x"])
    if draw(st.integers(0, 5)) == 0:
        lines.append(f"input y: {cin} x {shape}")
        ctx.taps["y"] = cin
    fixed = shape[0].isdigit() and shape[-1].isdigit()
    if cin in (1, 3) and draw(st.integers(0, 3)) == 0:
        lines.append(f"preprocess x: {_pipeline(draw, cin, shape if fixed else None)}")
    body, _ = chain(draw, cin, ctx, 0, 6, False)
    tail, has_k = draw(st.sampled_from(_TAILS))
    k = draw(st.integers(1, 6))
    labels = None
    if has_k and draw(st.booleans()):
        labels = (f"k{k}.txt", k)
        lines.append(f'labels "k{k}.txt" if k == {k}')
    lines.append(f"{body} {tail.format(k=k)}".strip())
    if "y" in ctx.taps and draw(st.booleans()):
        lines[-1] = f"{lines[-1]} @out"
        lines.append("y -> conv3x3(4) @second")
        lines.append("output out, second")
    return Net("\n".join(lines) + "\n", labels)


def _pipeline(draw: Draw, c: int, fixed: str | None) -> str:
    steps = []
    if draw(st.booleans()):
        steps.append(draw(st.sampled_from(["image(dtype=float32)", "image(layout=chw)", "image"])))
    if fixed is not None:
        h, w = (int(v) for v in fixed.split(" x "))
        steps.append(draw(st.sampled_from([f"resize({max(h, w) + 3})", f"resize(({h}, {w}))"])))
        steps.append(f"center_crop(({h}, {w}))")
    if c == 3 and draw(st.booleans()):
        steps.append("bgr")
    mean = ", ".join(["0.5"] * c) if c > 1 else "0.5"
    std = ", ".join(["0.25"] * c) if c > 1 else "0.25"
    steps.append(
        f"normalize(mean=({mean}), std=({std}))" if c > 1 else "normalize(mean=0.5, std=0.25)"
    )
    return " -> ".join(steps)
