"""`preprocess` statements: each input's image pipeline, checked against the input it feeds.

The steps are calls in a chain, in torchvision's order: `image(dtype, layout)` (the tensor a
caller feeds), `resize(size, mode)`, `center_crop(size)`, `bgr`, `normalize(mean, std)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from dslc.diagnostics import AlreadyReported, DiagnosticError, Sink, did_you_mean
from dslc.expand.evaluate import Env, Value, Word, describe, evaluate
from dslc.expand.scope import Tensor
from dslc.ir.preprocess import IMAGE_DTYPES, INTERPOLATIONS, LAYOUTS, Preprocess
from dslc.source import Span
from dslc.syntax import ast

__all__ = ["MAX_SIDE", "STEPS", "read_preprocess"]

# each step's parameters, positional order, with defaults (None: required)
STEPS: dict[str, dict[str, Value | None]] = {
    "image": {"dtype": Word("uint8", None), "layout": Word("hwc", None)},
    "resize": {"size": None, "mode": Word("bilinear", None)},
    "center_crop": {"size": None},
    "bgr": {},
    "normalize": {"mean": None, "std": None},
}
MAX_SIDE = 16384  # a resize or crop side; larger is a typo, not a photo


def read_preprocess(
    program: ast.Program, inputs: Mapping[str, Tensor], params: Mapping[str, Value], sink: Sink
) -> tuple[Preprocess, ...]:
    """The pipeline of each `preprocess` statement, each problem reported to `sink`."""
    out: list[Preprocess] = []
    for stmt in (s for s in program.statements if isinstance(s, ast.Preprocess)):
        try:
            if any(p.input == stmt.name for p in out):
                raise DiagnosticError(
                    "E0903", f"input '{stmt.name}' has a second 'preprocess' line", stmt.span
                )
            out.append(_pipeline(stmt, inputs, Env(dict(params)), sink))
        except DiagnosticError as exc:
            sink.report(exc)
        except AlreadyReported:
            pass
    return tuple(out)


def _pipeline(
    stmt: ast.Preprocess, inputs: Mapping[str, Tensor], env: Env, sink: Sink
) -> Preprocess:
    tensor = inputs.get(stmt.name)
    if tensor is None:
        raise DiagnosticError(
            "E0903",
            f"'preprocess {stmt.name}' names no input",
            stmt.span,
            did_you_mean(stmt.name, inputs) or f"the inputs are: {', '.join(inputs) or 'none'}",
        )
    if tensor.shape is None:
        raise AlreadyReported
    channels, height, width = tensor.shape[-3:]
    if channels not in (1, 3):
        raise DiagnosticError(
            "E0903",
            f"input '{stmt.name}' has {channels} channels; an image has 3 (RGB) or 1 (grey)",
            stmt.span,
        )
    p = _fields(Preprocess(stmt.name, int(channels)), _steps(stmt.chain, env))
    _check_size(p, stmt, (height, width))
    return p


def _steps(chain: ast.Chain, env: Env) -> dict[str, tuple[dict[str, Value], Span]]:
    """Each step's bound arguments by name, checked for kind, order and repetition."""
    order = list(STEPS)
    seen: dict[str, tuple[dict[str, Value], Span]] = {}
    for el in chain.elements:
        call = el.primary
        if not isinstance(call, ast.Call) or el.count or el.label or el.tap:
            raise DiagnosticError(
                "E0901",
                "a preprocessing step is a plain call such as resize(256)",
                el.span,
                f"the steps are: {', '.join(order)}",
            )
        if call.name not in STEPS:
            raise DiagnosticError(
                "E0901",
                f"'{call.name}' is not a preprocessing step",
                call.span,
                did_you_mean(call.name, order) or f"the steps are: {', '.join(order)}",
            )
        later = [s for s in seen if order.index(s) >= order.index(call.name)]
        if later:
            raise DiagnosticError(
                "E0901",
                f"'{call.name}' comes after '{later[0]}'",
                call.span,
                f"write the steps in this order, each at most once: {' -> '.join(order)}",
            )
        seen[call.name] = (_bind(call, env), call.span)
    return seen


def _bind(call: ast.Call, env: Env) -> dict[str, Value]:
    params = STEPS[call.name]
    names = list(params)
    bound: dict[str, Value] = {}
    for i, arg in enumerate(call.args or ()):
        name = arg.name if arg.name is not None else (names[i] if i < len(names) else None)
        if name is None or name not in params:
            what = f"no argument '{arg.name}'" if arg.name else f"at most {len(names)} arguments"
            raise DiagnosticError(
                "E0902",
                f"{call.name} takes {what}",
                arg.span,
                f"{call.name}({', '.join(names)})" if names else f"write '{call.name}' alone",
            )
        if name in bound:
            raise DiagnosticError("E0902", f"{call.name}: '{name}' is given twice", arg.span)
        bound[name] = evaluate(arg.value, env)
    for name, default in params.items():
        if name not in bound:
            if default is None:
                raise DiagnosticError(
                    "E0902",
                    f"{call.name} needs '{name}'",
                    call.span,
                    f"e.g. {_EXAMPLES[call.name]}",
                )
            bound[name] = default
    return bound


_EXAMPLES = {
    "resize": "resize(256)",
    "center_crop": "center_crop(224)",
    "normalize": "normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))",
}


def _fields(p: Preprocess, steps: dict[str, tuple[dict[str, Value], Span]]) -> Preprocess:
    """The pipeline with what the steps say."""
    if "image" in steps:
        args, span = steps["image"]
        p = replace(
            p,
            dtype=_word(args["dtype"], IMAGE_DTYPES, "image dtype", span),
            layout=_word(args["layout"], LAYOUTS, "image layout", span),
        )
    if "resize" in steps:
        args, span = steps["resize"]
        p = replace(
            p,
            resize=_sides(args["size"], "resize", span),
            interpolation=_word(args["mode"], INTERPOLATIONS, "resize mode", span),
        )
    if "center_crop" in steps:
        args, span = steps["center_crop"]
        crop = _sides(args["size"], "center_crop", span)
        p = replace(p, crop=(crop[0], crop[-1]))
    if "normalize" in steps:
        args, span = steps["normalize"]
        std = _floats(args["std"], p.channels, "std", span)
        if any(s <= 0 for s in std):
            raise DiagnosticError("E0902", "normalize: every std must be positive", span)
        p = replace(p, mean=_floats(args["mean"], p.channels, "mean", span), std=std)
    return replace(p, bgr="bgr" in steps)


def _word(value: Value, choices: tuple[str, ...], what: str, span: Span) -> str:
    if isinstance(value, Word) and value.text in choices:
        return value.text
    raise DiagnosticError(
        "E0902",
        f"{what} must be {' or '.join(choices)}, not {describe(value)}",
        value.span if isinstance(value, Word) and value.span else span,
    )


def _sides(value: Value, step: str, span: Span) -> tuple[int, ...]:
    sides = value if isinstance(value, tuple) else (value,)
    ok = len(sides) in (1, 2) and all(
        isinstance(s, int) and not isinstance(s, bool) and 0 < s <= MAX_SIDE for s in sides
    )
    if not ok:
        raise DiagnosticError(
            "E0902",
            f"{step}: the size is a side of 1 to {MAX_SIDE} pixels or a (height, width) pair, "
            f"not {describe(value)}",
            span,
        )
    return tuple(int(s) for s in sides)  # type: ignore[arg-type]


def _floats(value: Value, channels: int, what: str, span: Span) -> tuple[float, ...]:
    items = value if isinstance(value, tuple | list) else (value,)
    numbers = [v for v in items if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(numbers) != len(items) or len(items) not in (1, channels):
        raise DiagnosticError(
            "E0902",
            f"normalize: {what} is one number per channel ({channels}), not {describe(value)}",
            span,
        )
    return tuple(float(v) for v in numbers) * (channels if len(numbers) == 1 else 1)


def _check_size(p: Preprocess, stmt: ast.Preprocess, hw: tuple[object, object]) -> None:
    """The pipeline ends at the input's declared height and width."""
    fixed = all(isinstance(d, int) for d in hw)
    if not fixed and (p.resize or p.crop):
        raise DiagnosticError(
            "E0903",
            f"input '{p.input}' has a symbolic size: its images are taken at their own size",
            stmt.span,
            "drop resize and center_crop, or declare a fixed size (3 x 224 x 224)",
        )
    if p.crop and not p.resize:
        raise DiagnosticError(
            "E0903", "center_crop needs a resize before it", stmt.span, "e.g. resize(256)"
        )
    if p.crop and len(p.resize) == 1 and max(p.crop) > p.resize[0]:
        raise DiagnosticError(
            "E0903",
            f"center_crop{p.crop} is larger than the resized image's shorter side ({p.resize[0]})",
            stmt.span,
        )
    if p.crop and len(p.resize) == 2 and (p.crop[0] > p.resize[0] or p.crop[1] > p.resize[1]):
        raise DiagnosticError(
            "E0903", f"center_crop{p.crop} is larger than resize{p.resize}", stmt.span
        )
    end = p.crop or (p.resize if len(p.resize) == 2 else None)
    if p.resize and end is None:
        raise DiagnosticError(
            "E0903",
            f"resize({p.resize[0]}) keeps the image's aspect ratio: its size varies, the "
            f"input's is {hw[0]} x {hw[1]}",
            stmt.span,
            f"add center_crop({_side(hw)}), or resize to ({hw[0]}, {hw[1]})",
        )
    if end is not None and tuple(end) != hw:
        raise DiagnosticError(
            "E0903",
            f"the preprocessing ends at {end[0]} x {end[1]}, the input '{p.input}' is "
            f"{hw[0]} x {hw[1]}",
            stmt.span,
        )


def _side(hw: tuple[object, object]) -> str:
    return str(hw[0]) if hw[0] == hw[1] else f"({hw[0]}, {hw[1]})"
