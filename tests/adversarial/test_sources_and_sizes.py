"""Hostile sources and imports, errors after errors, and symbolic sizes that only work for some
inputs: every case through the real CLI, generated in tmp_path."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from dslc.cli import main
from dslc.syntax import ast

HEAD = "network n\ninput x: 3 x 8 x 8\n"


def _dslc(*args: object) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


def _file(tmp: Path, name: str, text: str | bytes) -> Path:
    p = tmp / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


def test_diamond_import_is_one_definition(tmp_path: Path) -> None:
    _file(tmp_path, "base.xnet", "block shared(c) = conv3x3(c) -> relu\n")
    _file(tmp_path, "a.xnet", 'import "base.xnet"\nblock a(c) = shared(c)\n')
    _file(tmp_path, "b.xnet", 'import "base.xnet"\nblock b(c) = shared(c)\n')
    top = _file(
        tmp_path, "top.xnet", 'import "a.xnet"\nimport "b.xnet"\n' + HEAD + "a(4) -> b(4)\n"
    )
    code, out, err = _dslc("check", top)
    assert (code, err) == (0, "") and "ok (4 layers)" in out


IMPORTS = {
    "absolute": ('"/etc/passwd.xnet"', "E0405", "relative path"),
    "climbs out": ('"../../../etc/passwd.xnet"', "E0405", "lies outside"),
    "not .xnet": ('"notes.txt"', "E0405", "an .xnet file"),
    "folder": ('"dir.xnet"', "E0402", "folder"),
    "fifo": ('"pipe.xnet"', "E0402", "named pipe"),
    "device link": ('"zero.xnet"', "E0405", "lies outside"),
    "link loop": ('"loop1.xnet"', "E0402", "symbolic link loop"),
    "binary": ('"binary.xnet"', "E0402", "binary file"),
    "latin-1": ('"latin.xnet"', "E0402", "not UTF-8"),
    "huge sparse": ('"huge.xnet"', "E0402", "more than the"),
    "missing": ('"nothere.xnet"', "E0402", "no such file"),
}


def _hostile_tree(tmp_path: Path) -> None:
    """The files the IMPORTS cases name."""
    (tmp_path / "dir.xnet").mkdir()
    os.mkfifo(tmp_path / "pipe.xnet")
    (tmp_path / "zero.xnet").symlink_to("/dev/zero")
    (tmp_path / "loop1.xnet").symlink_to(tmp_path / "loop2.xnet")
    (tmp_path / "loop2.xnet").symlink_to(tmp_path / "loop1.xnet")
    _file(tmp_path, "notes.txt", "secret line\n")
    _file(tmp_path, "binary.xnet", b"block a = relu\n\x00\x01\x02")
    _file(tmp_path, "latin.xnet", "block caf\xe9 = relu\n".encode("latin-1"))
    with open(tmp_path / "huge.xnet", "wb") as f:
        f.truncate(3 * 2**30)


@pytest.mark.parametrize("case", sorted(IMPORTS))
def test_hostile_imports_are_located_errors(case: str, tmp_path: Path) -> None:
    _hostile_tree(tmp_path)
    path, code_, words = IMPORTS[case]
    top = _file(tmp_path, "top.xnet", f"import {path}\n" + HEAD + "relu\n")
    code, _, err = _dslc("check", top)
    assert code == 1, err
    assert f"top.xnet:1:1: error[{code_}]" in err and words in err
    assert "secret" not in err and "unknown layer" not in err  # no consequences, no leaks


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("fifo", None, "named pipe"),
        ("latin", b"network n\ninput x: 3 x 8 x 8\n# caf\xe9\nrelu\n", "3:6: error[E0402]"),
        ("nul", b"network n\n\x00", "binary file"),
    ],
)
@pytest.mark.parametrize("command", ["check", "summary", "compile", "fmt"])
def test_unreadable_top_level_file(
    command: str, name: str, data: bytes | None, words: str, tmp_path: Path
) -> None:
    p = tmp_path / f"{name}.xnet"
    if data is None:
        os.mkfifo(p)
    else:
        p.write_bytes(data)
    code, _, err = _dslc(command, p)
    assert code == 1 and words in err and "internal error" not in err


def test_form_feed_keeps_the_excerpt_on_the_right_line(tmp_path: Path) -> None:
    p = _file(tmp_path, "ff.xnet", HEAD + "\f\nrelu -> rellu\n")
    _, _, err = _dslc("check", p)
    assert "4 | relu -> rellu" in err


def test_bom_and_lone_cr_are_text(tmp_path: Path) -> None:
    p = _file(tmp_path, "w.xnet", b"\xef\xbb\xbfnetwork n\rinput x: 3 x 8 x 8\r\nrelu\r")
    code, _, err = _dslc("check", p)
    assert code == 0, err


def test_megabytes_of_chain_are_refused_quickly(tmp_path: Path) -> None:
    p = _file(tmp_path, "big.xnet", HEAD + " -> ".join(["relu"] * 700_000) + "\n")
    code, _, err = _dslc("check", p)
    assert code == 1 and "--limit source=" in err


def test_every_independent_error_in_a_chain_once(tmp_path: Path) -> None:
    p = _file(
        tmp_path,
        "c.xnet",
        HEAD + "block b(c) = conv3x3(c)\n"
        "conv3x3(8, pad=full) -> conv3x3(C) -> b(C) -> conv3x3(-1) -> maxpool2(pad=bad)\n",
    )
    _, _, err = _dslc("check", p)
    assert err.count("error[") == 3
    assert "got full" in err and "at least 1, got -1" in err and "got bad" in err
    assert "unknown name" not in err


def test_batch_written_out_points_at_the_input(tmp_path: Path) -> None:
    p = _file(tmp_path, "b.xnet", "network n\ninput x: 1 x 3 x 32 x 32\nconv3x3(8)\n")
    _, _, err = _dslc("check", p)
    assert "b.xnet:2:1: error[E0507]" in err and "input x: 3 x 32 x 32" in err
    assert "flatten" not in err


UNET_ISH = (
    "network n\ninput x: 3 x H x W\n"
    "conv3x3(8) @a -> maxpool2 -> conv3x3(8) -> upsample(2) -> concat<identity | a>\n"
)


def test_symbolic_sizes_that_work_only_when_even(tmp_path: Path) -> None:
    src = _file(tmp_path, "u.xnet", UNET_ISH)
    code, out, _ = _dslc("check", src)
    assert code == 0 and "valid for H, W even" in out
    _, out, _ = _dslc("summary", src)
    assert "Valid sizes:       H, W even" in out
    onnx_path = tmp_path / "u.onnx"
    assert _dslc("compile", src, "-o", onnx_path)[0] == 0
    import onnx

    meta = {p.key: p.value for p in onnx.load(onnx_path).metadata_props}
    assert '"H":{"period":2,"residues":[0]' in meta["dslc.sizes"]
    code, _, err = _dslc("run", onnx_path, "--size", "H=33", "--size", "W=32")
    assert code == 1 and "valid only for H even" in err and "ONNXRuntimeError" not in err
    np.save(tmp_path / "x.npy", np.zeros((1, 3, 32, 31), np.float32))
    code, _, err = _dslc("run", src, "--input", tmp_path / "x.npy")
    assert code == 1 and "W = 31" in err
    assert _dslc("run", onnx_path, "--size", "H=32", "--size", "W=34")[0] == 0


def test_sizes_that_always_work_say_nothing(tmp_path: Path) -> None:
    src = _file(tmp_path, "s.xnet", "network n\ninput x: 3 x H x W\nconv3x3(8) -> relu\n")
    _, out, _ = _dslc("check", src)
    assert out.strip().endswith("ok (2 layers)")
    assert "Valid sizes" not in _dslc("summary", src)[1]


@pytest.mark.parametrize("size", [(1, 1), (5, 7), (33, 17)])
def test_adaptive_pool_on_symbolic_sizes_runs_as_at_fixed_sizes(
    size: tuple[int, int], tmp_path: Path
) -> None:
    import onnxruntime as ort

    body = "adaptive_avgpool(2) -> flatten\n"
    sym = _file(tmp_path, "sym.xnet", "network n\ninput x: 3 x H x W\n" + body)
    fixed = _file(tmp_path, "fix.xnet", f"network n\ninput x: 3 x {size[0]} x {size[1]}\n" + body)
    x = np.random.default_rng(0).random((2, 3, *size), dtype=np.float32)
    outs = []
    for src in (sym, fixed):
        assert _dslc("compile", src, "-o", src.with_suffix(".onnx"))[0] == 0
        s = ort.InferenceSession(str(src.with_suffix(".onnx")))
        outs.append(s.run(None, {"x": x})[0])
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-6)


def test_import_root_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    assert "DSLC_IMPORT_ROOT" in readme and "--limit source" in readme


def test_import_root_widens_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _file(tmp_path, "lib/blocks.xnet", "block cbr(c) = conv3x3(c) -> relu\n")
    top = _file(tmp_path, "app/top.xnet", 'import "../lib/blocks.xnet"\n' + HEAD + "cbr(4)\n")
    assert _dslc("check", top)[0] == 1
    monkeypatch.setenv("DSLC_IMPORT_ROOT", str(tmp_path))
    assert _dslc("check", top)[0] == 0


def test_closed_pipe_is_not_a_bug(tmp_path: Path) -> None:
    root = Path(__file__).parents[2]
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{root / 'runtime'}"}
    cmd = f"{sys.executable} -m dslc weights {root / 'models/resnet50.xnet'} | head -1"
    r = subprocess.run(
        cmd, check=False, shell=True, capture_output=True, text=True, env=env, timeout=60
    )
    assert "internal error" not in r.stderr


def _exponential(arg: str) -> str:
    """Blocks calling a block twice, 40 deep (2**40 calls), passing `arg` as the argument:
    no layer is ever made, so only the expander's step budget can stop it."""
    lines = [HEAD, "block b0(a) = relu * 0\n"]
    lines += [f"block b{i}(a) = b{i - 1}({arg}) -> b{i - 1}({arg})\n" for i in range(1, 41)]
    return "".join(lines) + "b40(1)\n"


# ~500 nodes whose value stays `a`, nested well under the expression depth limit
HEAVY = " + ".join(["(" + " + ".join(["a"] + ["0"] * 49) + ")"] * 10) + " - 9 * a"


def test_heavy_arguments_are_charged_to_the_step_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dslc.expand.evaluate as ev
    import dslc.expand.expander as ex

    counted = [0]
    original = ev.evaluate

    def counting(e: ast.Expr, env: ev.Env) -> ev.Value:
        counted[0] += 1
        return original(e, env)

    monkeypatch.setattr(ev, "evaluate", counting)
    monkeypatch.setattr(ex, "evaluate", counting)
    work: dict[str, int] = {}
    for name, arg in [("trivial", "a"), ("heavy", HEAVY)]:
        counted[0] = 0
        p = _file(tmp_path, f"{name}.xnet", _exponential(arg))
        code, _, err = _dslc("check", "--limit", "layers=2000", p)
        assert code == 1 and "error[E0601]" in err and "20,000 steps" in err, err
        assert f"{name}.xnet:" in err.splitlines()[0]  # located in the file
        assert "--limit layers=4000" in err
        work[name] = counted[0]
    # each argument node evaluated is paid for: heavy arguments mean fewer calls, not more work
    assert 5_000 < work["trivial"] <= 20_000
    assert work["heavy"] <= 2 * work["trivial"]


def test_heavy_exponential_blocks_stop_at_default_limits(tmp_path: Path) -> None:
    p = _file(tmp_path, "heavy.xnet", _exponential(HEAVY))
    code, err = _bounded_check(p)  # about 4 s on a busy 2-core machine
    assert code == 1 and "error[E0601]" in err and "--limit layers=" in err


# Runs `python -m dslc ARGS` in a child it forks from this small launcher, and reports that
# child's peak RSS: a child forked from pytest itself would start its high-water mark at
# pytest's size (fork copies it; exec keeps the maximum).
LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, "-m", "dslc", *sys.argv[1:]])
_, status, usage = os.wait4(pid, 0)
sys.stderr.write(f"\\ncpu-s={usage.ru_utime + usage.ru_stime}\\npeak-rss-kib={usage.ru_maxrss}\\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""
MAX_RSS_MIB = 400  # `dslc check` of a one-layer file peaks at about 30 MiB
MAX_SECONDS = 10  # of the child's CPU time: the work, not a busy machine's queue
HANG_SECONDS = 120  # wall time after which the child counts as hung


def _bounded_check(path: Path) -> tuple[int, str]:
    """`dslc check path` in a subprocess; assert it needs under MAX_SECONDS of CPU and its peak
    memory stays under MAX_RSS_MIB. Returns the exit code and stderr (without the report)."""
    # its own process group, so a hung dslc (not only the launcher) is killed at the time limit:
    # a surviving grandchild would hold the pipes open and hang the test run instead of failing it
    child = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, "check", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = child.communicate(timeout=HANG_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        pytest.fail(f"dslc check {path.name} still ran after {HANG_SECONDS} s")
    err, _, report = stderr.rpartition("\ncpu-s=")
    assert report, stderr
    cpu, _, rss = report.partition("\npeak-rss-kib=")
    assert float(cpu) < MAX_SECONDS, f"dslc check {path.name} took {float(cpu):.1f} s of CPU"
    assert int(rss) < MAX_RSS_MIB * 1024, f"peak RSS {int(rss) // 1024} MiB"
    return child.returncode, err


@pytest.mark.parametrize("case", sorted(IMPORTS))
def test_hostile_imports_in_bounded_time_and_memory(case: str, tmp_path: Path) -> None:
    _hostile_tree(tmp_path)
    top = _file(tmp_path, "top.xnet", f"import {IMPORTS[case][0]}\n" + HEAD + "relu\n")
    code, err = _bounded_check(top)
    assert code == 1 and f"error[{IMPORTS[case][1]}]" in err


SOURCES = {
    "5 MB one-line chain": (HEAD + " -> ".join(["relu"] * 700_000) + "\n", 1, "--limit source="),
    "nested groups": (HEAD + "(" * 20_000 + "relu" + ")" * 20_000 + "\n", 1, "error[E0603]"),
    "nested expression": (
        HEAD + "conv1x1(" + "(" * 20_000 + "1" + ")" * 20_000 + ")\n",
        1,
        "error[E0603]",
    ),
    "long expression": (HEAD + "conv1x1(" + " + ".join(["1"] * 200_000) + ")\n", 1, "error[E0603]"),
    "many blocks": ("".join(f"block b{i}=relu\n" for i in range(10_000)) + HEAD + "b1\n", 0, ""),
    "binary": (b"network n\n\x00" * 50_000, 1, "binary file"),
}


@pytest.mark.parametrize("case", sorted(SOURCES))
def test_hostile_sources_in_bounded_time_and_memory(case: str, tmp_path: Path) -> None:
    text, expected, words = SOURCES[case]
    code, err = _bounded_check(_file(tmp_path, "top.xnet", text))
    assert code == expected and words in err, err
