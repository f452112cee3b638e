"""Checked must mean will run: every model the compiler accepts runs on ONNX Runtime (CPU) for
every input size the compiler says is valid, under every compile option, and the numbers the
compiler reports are what runs.

Programs come from checked_nets.nets(): the whole vocabulary (depthwise and grouped convs,
squeeze-excite gates, hardswish, GELU, layer norm and scale, stochastic depth, channel
shuffle, space_to_depth, pad_channels, transposed convs, adaptive pools, taps resized to,
`preprocess` and `labels`), mostly on symbolic sizes. For each accepted program:
- sizes: the smallest valid value of every symbolic size, the next one, an odd one where odd
  sizes are valid, and lopsided pairs (H at its smallest, W near 97, and the other way); at
  each, the plain float32 model (random weights, batch-norm statistics included) and the
  optimised one run, agree within float rounding, and give the output shapes that
  `summary --json` reports for those sizes (`--size`) - exact or not;
- the PyTorch module (`dslc torch`) with the same weights computes what ONNX Runtime does;
- params + buffers + constants == the plain model's initializers;
- the options: an opset from 17-26, float16 (with float16 or float32 inputs), he and xavier
  initialisation, --no-preprocess: each model loads and runs to the same shapes;
- a size the compiler says is invalid is refused by `dslc run --size` with the rule's
  sentence (exit 1), never left to fail inside ONNX Runtime;
- every size from 1 to 12 of one symbol at a time: valid ones run to the summary's shapes,
  invalid ones fail the layers' shape rules at that size (the rule is no stricter).

Reproducers of the defects found are in FIXED (and the tests after it). While hunting, run
the property with more examples: `CHECKED_EXAMPLES=3000 pytest tests/adversarial/...`.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from checked_nets import Net, nets
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dslc.backend.onnx import build
from dslc.backend.serialize import write
from dslc.backend.weights import expected
from dslc.cli import main
from dslc.compiler import compile_file, fix_sizes
from dslc.diagnostics import CompileError
from dslc.passes import Analysis
from dslc.passes.sizes import SizeRule
from dslc.report.summary import summary_json

ort = pytest.importorskip("onnxruntime")

BATCH = 2
MAX_ELEMENTS = 1 << 20  # a feed or output larger than this is not run (time, not a limit)
SEED = 7


class Mismatch(AssertionError):
    """A broken promise; `kind` names which, for deduplication while hunting."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


def _require(ok: bool, kind: str, detail: str) -> None:
    if not ok:
        raise Mismatch(kind, detail)


# ---- compiling ----


def compile_net(net: Net, folder: Path) -> Analysis | None:
    """The analysis, or None where the compiler refuses the program with located errors."""
    if net.labels:
        name, k = net.labels
        (folder / name).write_text("".join(f"class {i}\n" for i in range(k)))
    path = folder / "g.xnet"
    path.write_text(net.text)
    try:
        return compile_file(path)
    except CompileError as exc:
        for d in exc.diagnostics:
            _require(d.span is not None, "unlocated diagnostic", d.render())
        return None


def symbols(analysis: Analysis) -> list[str]:
    return [r.symbol for r in analysis.sizes]


def _valid_values(rule: SizeRule) -> dict[str, int]:
    """The smallest valid value, the next, an odd one (else the smallest), one near 97."""
    first = [n for n in range(1, rule.minimum + 4 * rule.period + 2) if rule.allows(n)]
    odd = [n for n in first if n % 2] or first
    large = next(n for n in range(97, 97 + 4 * rule.period + 1) if rule.allows(n))
    return {"min": first[0], "next": first[1], "odd": odd[0], "large": large}


def size_choices(analysis: Analysis) -> list[dict[str, int]]:
    """Size assignments the compiler says are valid: every symbol at its smallest, next, odd
    and large value, and lopsided (one symbol smallest, the others large)."""
    values = {r.symbol: _valid_values(r) for r in analysis.sizes}
    out = [{s: v[k] for s, v in values.items()} for k in ("min", "next", "odd", "large")]
    for r in analysis.sizes:
        out.append({s: v["min" if s == r.symbol else "large"] for s, v in values.items()})
    unique: list[dict[str, int]] = []
    for o in out:
        if o not in unique:
            unique.append(o)
    return unique


# ---- running ----


def random_weights(analysis: Analysis) -> dict[str, np.ndarray]:
    """Every parameter at random, batch-norm statistics included, so that folding shows."""
    g = np.random.default_rng(1)
    out = {}
    for e in expected(analysis):
        a = g.standard_normal(e.shape).astype(np.float32) * np.float32(0.5)
        out[e.name] = np.abs(a) + np.float32(0.5) if e.name.endswith(".running_var") else a
    return out


def session(analysis: Analysis, **options: Any) -> tuple[Any, int]:
    """An ONNX Runtime session on the model `build` makes, and its initializers' size."""
    try:
        model, arrays = build(analysis, **options)
    except Exception as exc:
        raise Mismatch(f"build fails: {type(exc).__name__}", f"{options}: {exc}") from exc
    buffer = io.BytesIO()
    write(model, arrays, buffer)
    so = ort.SessionOptions()
    so.log_severity_level = 4
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    try:
        s = ort.InferenceSession(buffer.getvalue(), so, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise Mismatch(_ort_kind("refuses the model", exc), f"{options}: {exc}"[:800]) from exc
    return s, sum(int(np.prod(a.shape)) for _, a in arrays)


def _ort_kind(what: str, exc: Exception) -> str:
    msg = str(exc)
    op = re.search(r"running (\w+) node|Op \((\w+)\)|op_type[=: ]+(\w+)", msg)
    name = next((g for g in op.groups() if g), "") if op else re.sub(r"\d+", "#", msg[:60])
    return f"onnxruntime {what}: {name}"


def feeds(s: Any, sizes: dict[str, int]) -> dict[str, np.ndarray] | None:
    """Random inputs for the session's inputs at these sizes (image tensors of a declared
    resize at 29 x 41); None where they would be too large to run quickly."""
    rng = np.random.default_rng(0)
    out = {}
    for i in s.get_inputs():
        named = sizes | {"N": BATCH, "height": 29, "width": 41}
        shape = [d if isinstance(d, int) else named[d] for d in i.shape]
        if int(np.prod(shape)) > MAX_ELEMENTS:
            return None
        if i.type == "tensor(uint8)":
            out[i.name] = rng.integers(0, 256, shape, dtype=np.uint8)
        else:
            kind = np.float16 if i.type == "tensor(float16)" else np.float32
            out[i.name] = rng.standard_normal(shape).astype(kind)
    return out


def run(s: Any, x: dict[str, np.ndarray], what: str) -> list[np.ndarray]:
    try:
        return [np.asarray(y) for y in s.run(None, x)]
    except Exception as exc:
        shapes = {k: v.shape for k, v in x.items()}
        raise Mismatch(_ort_kind("run fails", exc), f"{what} at {shapes}: {exc}"[:800]) from exc


def summary_shapes(analysis: Analysis, sizes: dict[str, int]) -> list[tuple[int, ...]]:
    """The output shapes `dslc summary --json --size ...` reports, the batch set."""
    doc = summary_json(fix_sizes(analysis, sizes) if sizes else analysis)
    return [tuple(BATCH if d == "N" else d for d in o["shape"]) for o in doc["outputs"]]


def _close(got: np.ndarray, want: np.ndarray, tol: float) -> bool:
    scale = max(float(np.abs(want).max(initial=0.0)), 1.0)
    return bool(np.allclose(got, want, rtol=tol, atol=tol * scale, equal_nan=False))


# ---- the checks ----


def check_sizes(analysis: Analysis, torch_too: bool = True) -> None:
    """At every chosen valid size: plain and optimised run, agree, and have the summary's
    shapes; the PyTorch module agrees with the plain model."""
    weights = random_weights(analysis)
    plain, size = session(analysis, weights=weights, preprocess=False)
    opt, _ = session(analysis, weights=weights, optimize=True, preprocess=False)
    totals = summary_json(analysis)["totals"]
    counted = totals["params"] + totals["buffers"] + totals.get("constants", 0)
    _require(counted == size, "params differ from the initializers", f"{counted} != {size}")
    net = _torch_module(analysis, weights) if torch_too else None
    for sizes in size_choices(analysis):
        x = feeds(plain, sizes)
        if x is None:
            continue
        want = run(plain, x, f"plain {sizes}")
        got = run(opt, x, f"optimised {sizes}")
        shapes = [y.shape for y in want]
        _require(
            shapes == summary_shapes(analysis, sizes),
            "ran to other shapes than summary says",
            f"at {sizes}: ran {shapes}, summary {summary_shapes(analysis, sizes)}",
        )
        for a, b in zip(got, want, strict=True):
            _require(a.shape == b.shape and _close(a, b, 1e-4), "optimised differs", f"{sizes}")
        if net is not None:
            _check_torch(net, x, want, sizes)


def _torch_module(analysis: Analysis, weights: dict[str, np.ndarray]) -> Any:
    import torch

    from dslc.pytorch import module_of

    torch.set_num_threads(1)
    try:
        net = module_of(analysis, "g.xnet", None, 0).eval()
    except Exception as exc:
        raise Mismatch(f"torch module fails: {type(exc).__name__}", str(exc)[:800]) from exc
    net.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    return net


def _check_torch(net: Any, x: dict[str, np.ndarray], want: list[np.ndarray], at: Any) -> None:
    import torch

    args = [torch.from_numpy(v) for v in x.values()]
    try:
        with torch.no_grad():
            out = net(*args)
    except Exception as exc:
        raise Mismatch(f"torch run fails: {type(exc).__name__}", f"at {at}: {exc}"[:800]) from exc
    outs = [out] if isinstance(out, torch.Tensor) else list(out)
    for a, b in zip(outs, want, strict=True):
        got = a.numpy()
        _require(got.shape == b.shape, "torch shape differs", f"at {at}: {got.shape} {b.shape}")
        _require(_close(got, b, 1e-4), "torch differs from onnxruntime", f"at {at}")


OPTIONS: list[dict[str, Any]] = [
    *({"opset": o, "optimize": True} for o in range(17, 27)),
    {"dtype": "float16", "optimize": True},
    {"dtype": "float16", "io_dtype": "float32"},
    {"init": "he", "optimize": True, "opset": 21},
    {"init": "xavier"},
    {"preprocess": False, "opset": 18},
]


def check_options(analysis: Analysis, options: list[dict[str, Any]]) -> None:
    """Each option's model loads and runs, to the shapes the summary says, at the smallest
    valid sizes."""
    sizes = size_choices(analysis)[0]
    want = summary_shapes(analysis, sizes)
    for o in options:
        s, _ = session(analysis, **o)
        x = feeds(s, sizes)
        if x is None:
            return
        ys = run(s, x, str(o))
        _require([y.shape for y in ys] == want, "option runs to other shapes", f"{o} at {sizes}")


def check_refusal(analysis: Analysis, path: Path) -> None:
    """A size the compiler calls invalid: `dslc run --size` refuses it with the rule."""
    for r in analysis.sizes:
        if not r.restricts:
            continue
        bad = next(n for n in range(1, r.minimum + r.period + 1) if not r.allows(n))
        given = ",".join(
            f"{s}={bad if s == r.symbol else size_choices(analysis)[0][s]}"
            for s in symbols(analysis)
        )
        result = CliRunner().invoke(main, ["run", str(path), "--size", given])
        _require(result.exit_code == 1, "invalid size not refused", f"{given}: {result.output}")
        _require(
            f"valid only for {r.symbol} {r.text()}" in result.stderr,
            "refused without the rule",
            f"{given}: {result.stderr[-600:]}",
        )
        return


def check_net(net: Net, folder: Path, options: list[dict[str, Any]]) -> bool:
    """Every check on one program; whether it compiled."""
    analysis = compile_net(net, folder)
    if analysis is None:
        return False
    check_sizes(analysis)
    check_options(analysis, options)
    check_refusal(analysis, folder / "g.xnet")
    check_every_small_size(analysis)
    return True


# ---- defects found, and fixed ----

HEAD = "network g\ninput x: 3 x H x W\n"
# ONNX Runtime plans buffers by dim names: `H` after a stride-2 conv and an upsample by 2 is
# not the input's `H` at an odd H, and the scale's output buffer was reused for the Resize's
ROUNDED = HEAD + "scale(0.5) -> conv3x3(C, stride=2) -> upsample(2) -> conv1x1(5)\n"
# 2*H-1 is never even: valid for no size, yet it compiled (`valid for H, W  mod 1`)
NO_SIZE = HEAD + "deconv(8, k=3, stride=2, pad=1) -> space_to_depth(2)\n"
# bilinear resizing to one pixel: ONNX's pytorch_half_pixel samples pixel 0, PyTorch averages
ONE_PIXEL = (
    "network g\ninput x: 4 x 1 x 1\n"
    "deconv(4, k=4, stride=2, pad=1) -> upsample(to=x, mode=bilinear)\n"
)
# nearest resizing 2 -> 82 rows: torch's interpolate (float32 in / out) took row 0 for row 41,
# ONNX Runtime row 1; dslc torch now computes ONNX Runtime's rows
NEAREST = "network g\ninput x: 1 x 82 x 4\nadaptive_avgpool((2, 4)) -> upsample(to=x)\n"
# a fractional factor on the fixed side and a whole one on the symbolic side: the backend
# wrote the output's sizes as constants and crashed on `2*W` (TypeError, exit 3)
MIXED = "network g\ninput x: 1 x 12 x W\nupsample((1.5, 2), mode=bilinear, align_corners=true)\n"
FIXED = [
    ROUNDED,
    MIXED,
    "network g\ninput x: 2 x H x 7\nupsample((3, 0.5))\n",
    ONE_PIXEL,
    NEAREST,
    NEAREST.replace("upsample(to=x)", "upsample((41, 1))").replace("82", "2"),
    HEAD.replace("3 x", "4 x") + "depth_to_space(2) -> upsample(to=x, mode=bilinear)\n",
]


def test_dims_that_round_are_not_named_like_the_input(tmp_path: Path) -> None:
    path = tmp_path / "g.xnet"
    path.write_text(ROUNDED)
    for size in ("H=1,W=1", "H=3,W=5"):
        result = CliRunner().invoke(main, ["run", str(path), "--size", size])
        assert result.exit_code == 0, result.output
    assert "output output: shape (1, 5, 4, 6)" in result.stdout
    model, _ = build(compile_file(path))
    out = re.findall(rb"H[^\x00-\x20]*", model.outputs[0])
    assert out == [b"H~1"], out  # the input is `H`; at H = 3 this is 4


def test_a_network_valid_for_no_size_is_a_located_error(tmp_path: Path) -> None:
    path = tmp_path / "g.xnet"
    path.write_text(NO_SIZE)
    with pytest.raises(CompileError) as info:
        compile_file(path)
    (d,) = info.value.diagnostics
    assert d.code == "E0323" and d.span is not None and (d.span.line, d.span.col) == (3, 36)
    assert "no H or W works" in d.message and "space_to_depth1" in d.message
    assert "2*H-1 x 2*W-1" in d.render()


# ceil-mode pooling over 1 x H x 12: ceil_mode is one attribute, the symbolic side needs it,
# and on the fixed side ONNX's inference (before opset 22) keeps a last window that starts
# past the input: 5 by onnx's strict inference, 4 by dslc and ONNX Runtime; strict inference
# refused the model, ONNX Runtime warned at every load
MIXED_CEIL = [
    "network g\ninput x: 1 x H x 12\nmaxpool(2, stride=3, ceil=true)\n",
    "network g\ninput x: 2 x 12 x W\navgpool(2, stride=3, ceil=true) -> conv1x1(2)\n",
    "network g\ninput x: 2 x H x 11\navgpool(3, stride=3, pad=1, ceil=true) -> adaptive_avgpool(2)\n",
]


@pytest.mark.parametrize("text", MIXED_CEIL)
@pytest.mark.parametrize("opset", [17, 21])
def test_ceil_pooling_on_mixed_sizes_agrees_with_onnx_inference(
    text: str, opset: int, tmp_path: Path
) -> None:
    import onnx
    from onnx import shape_inference
    from value_info import assert_value_info

    from dslc.backend.onnx import to_onnx

    analysis = compile_net(Net(text), tmp_path)
    assert analysis is not None
    model = to_onnx(analysis, opset=opset)
    assert_value_info(model)
    bare = onnx.ModelProto()
    bare.CopyFrom(model)
    for out in bare.graph.output:
        out.type.tensor_type.ClearField("shape")
    inferred = shape_inference.infer_shapes(bare, strict_mode=True, data_prop=True)
    dims = [d.dim_value or d.dim_param for d in inferred.graph.output[0].type.tensor_type.shape.dim]
    ours = analysis.shapes[analysis.graph.outputs[0]]
    assert [d for d in dims if isinstance(d, int) and d] == [d for d in ours if isinstance(d, int)]
    assert check_net(Net(text), tmp_path, [{"opset": opset}])


@pytest.mark.parametrize("text", FIXED)
def test_fixed_defects_stay_fixed(text: str, tmp_path: Path) -> None:
    assert check_net(Net(text), tmp_path, OPTIONS[:1])


CHECKED = settings(
    max_examples=int(os.environ.get("CHECKED_EXAMPLES", "200")),
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


@CHECKED
@given(net=nets(), option=st.sampled_from(OPTIONS))
def test_checked_programs_run_at_every_valid_size(
    net: Net, option: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    check_net(net, tmp_path_factory.mktemp("net"), [option])


def check_every_small_size(analysis: Analysis, up_to: int = 12) -> None:
    """One symbol at a time over 1..up_to (the others at their smallest valid value): a size
    the compiler calls valid runs, to the summary's shapes; one it calls invalid fails shape
    inference at that size (the rule is not stricter than the layers)."""
    from dslc.passes.sizes import concrete_shapes

    if not analysis.sizes:
        return
    plain, _ = session(analysis, preprocess=False)
    first = size_choices(analysis)[0]
    for rule in analysis.sizes:
        for n in range(1, up_to + 1):
            sizes = first | {rule.symbol: n}
            if not rule.allows(n):
                works = concrete_shapes(analysis.graph, sizes) is not None
                _require(not works, "rule refuses a size that works", f"{sizes}")
                continue
            x = feeds(plain, sizes)
            if x is None:
                continue
            shapes = [y.shape for y in run(plain, x, f"plain {sizes}")]
            want = summary_shapes(analysis, sizes)
            _require(shapes == want, "ran to other shapes than summary says", f"{sizes}")
