"""dslc.pytorch's library calls: the model.py text and the module built from it, with the
weights `dslc compile` draws, computing what the compiled ONNX model computes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dslc.backend.onnx import serialize, to_onnx
from dslc.backend.weights import expected
from dslc.compiler import compile_file
from dslc.diagnostics import CompileError
from dslc.pytorch import build_module, module_source

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

ROOT = Path(__file__).resolve().parents[2]
LENET = ROOT / "models" / "lenet5.xnet"
CHAIN = (
    "network chain(width = 8)\ninput x: 3 x 16 x 16\n"
    "conv3x3(width) -> bn -> relu -> maxpool2 -> conv3x3(4, stride=2) -> relu -> gap\n"
    "-> flatten -> fc: dense(10)\n"
)


def _ort(path: Path, batch: int, **kw: object) -> tuple[np.ndarray, np.ndarray]:
    analysis = compile_file(path)
    model = to_onnx(analysis, **kw)  # type: ignore[arg-type]
    session = ort.InferenceSession(serialize(model), providers=["CPUExecutionProvider"])
    (i,) = analysis.graph.inputs
    shape = (batch, *(int(d) for d in analysis.shapes[i][1:]))
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    (y,) = session.run(None, {analysis.graph.node(i).name: x})
    return x, y


@pytest.fixture
def chain(tmp_path: Path) -> Path:
    path = tmp_path / "chain.xnet"
    path.write_text(CHAIN)
    return path


@pytest.mark.parametrize("init", ["pytorch", "he", "xavier"])
def test_lenet5_state_dict_and_outputs_match_the_compiler(init: str) -> None:
    net = build_module(LENET, init=init, seed=7).eval()
    state = net.state_dict()
    want = expected(compile_file(LENET))
    assert [(k, tuple(v.shape), str(v.dtype)) for k, v in state.items()] == [
        (e.name, e.shape, "torch.float32") for e in want
    ]
    x, y = _ort(LENET, 2, seed=7, init=init)
    with torch.no_grad():
        got = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, y, rtol=0, atol=1e-5 * float(np.abs(y).max()))


def test_a_chain_with_batch_norm_matches_folded_and_plain(chain: Path) -> None:
    net = build_module(chain).eval()
    assert list(net.state_dict()) == [e.name for e in expected(compile_file(chain))]
    assert "bn1.running_var" in net.state_dict()
    for optimize in (True, False):
        x, y = _ort(chain, 2, optimize=optimize)
        with torch.no_grad():
            got = net(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(got, y, rtol=0, atol=1e-5 * float(np.abs(y).max()))


def test_sets_change_the_module(chain: Path) -> None:
    net = build_module(chain, {"width": "5"})
    assert tuple(net.state_dict()["conv1.weight"].shape) == (5, 3, 3, 3)
    assert "nn.Conv2d(3, 5, 3, padding=1)" in module_source(chain, {"width": "5"})


def test_the_text_stands_alone_and_runs(chain: Path, tmp_path: Path) -> None:
    text = module_source(chain)
    assert not [line for line in text.splitlines() if "import" in line and "dslc" in line]
    space: dict[str, object] = {}
    exec(compile(text, "model.py", "exec"), space)  # noqa: S102 - the text under test
    net = space["Chain"]()  # type: ignore[operator]
    assert net(torch.zeros(2, 3, 16, 16)).shape == (2, 10)


def test_a_file_that_does_not_check_raises_its_diagnostics(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xnet"
    bad.write_text("network bad\ninput x: 3 x 8 x 8\nconv3x3(4) -> dense(10)\n")
    with pytest.raises(CompileError) as info:
        build_module(bad)
    assert info.value.diagnostics[0].code.startswith("E")


def test_train_mode_uses_batch_statistics_and_the_stated_momentum(tmp_path: Path) -> None:
    path = tmp_path / "t.xnet"
    path.write_text(
        "network t\ninput x: 2 x 4 x 4\n"
        "n: bn(momentum=0.3) -> dropout(0.5) -> stochastic_depth(0.5) -> gap -> flatten\n"
    )
    net = build_module(path)
    assert net.training
    x = torch.randn(8, 2, 4, 4) * 3 + 1
    torch.manual_seed(0)
    y = net(x)
    mean = x.mean(dim=(0, 2, 3))
    var = x.var(dim=(0, 2, 3), unbiased=True)
    state = net.state_dict()
    torch.testing.assert_close(state["n.running_mean"], 0.3 * mean)
    torch.testing.assert_close(state["n.running_var"], 0.7 + 0.3 * var)
    assert "n.num_batches_tracked" not in state
    # dropout zeroes elements and stochastic depth whole samples (scaled by 1 / (1 - p))
    assert (y == 0).all(dim=1).any() and not (y == 0).all()
    net.eval()
    normed = (x - state["n.running_mean"][None, :, None, None]) / torch.sqrt(
        state["n.running_var"][None, :, None, None] + 1e-5
    )
    torch.testing.assert_close(net(x), normed.mean(dim=(2, 3)))


@pytest.mark.parametrize(
    ("init", "std"),
    [
        ("he", lambda fan_in, fan_out: (2 / fan_in) ** 0.5),
        ("xavier", lambda fan_in, fan_out: (2 / (fan_in + fan_out)) ** 0.5),
        ("pytorch", lambda fan_in, fan_out: (1 / (3 * fan_in)) ** 0.5),
    ],
)
def test_the_file_initialises_itself_with_the_init_scheme(
    init: str, std: object, tmp_path: Path
) -> None:
    path = tmp_path / "w.xnet"
    path.write_text(
        "network w\ninput x: 64 x 8 x 8\nc: conv3x3(128) -> gap -> flatten -> d: dense(96)\n"
    )
    space: dict[str, object] = {}
    exec(compile(module_source(path, init=init), "w.py", "exec"), space)  # noqa: S102
    torch.manual_seed(0)
    state = space["W"]().state_dict()  # type: ignore[operator]
    for name, fan_in, fan_out in (("c", 64 * 9, 128 * 9), ("d", 128, 96)):
        want = std(fan_in, fan_out)  # type: ignore[operator]
        assert abs(float(state[f"{name}.weight"].std()) - want) < 0.05 * want, (name, init)
        bias = state[f"{name}.bias"]
        assert (bias == 0).all() if init != "pytorch" else bias.abs().max() <= fan_in**-0.5


def test_build_module_without_torch_says_what_to_install() -> None:
    code = (
        "import sys\n"
        "sys.modules['torch'] = None\n"
        "from pathlib import Path\n"
        "from dslc.pytorch import build_module, module_source\n"
        "assert 'class Lenet5(nn.Module):' in module_source(Path(sys.argv[1]))\n"
        "try:\n"
        "    build_module(Path(sys.argv[1]))\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(LENET)], check=False, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert "needs torch" in run.stdout and "pip install" in run.stdout


def test_a_network_without_layers_returns_its_input(tmp_path: Path) -> None:
    path = tmp_path / "none.xnet"
    path.write_text('network none\ninput image: 2 x 8 x 8\n"r{i}": (conv3x3(C) -> relu) * 0 as i\n')
    net = build_module(path)
    x = torch.randn(1, 2, 8, 8)
    assert torch.equal(net(x), x) and not net.state_dict()
