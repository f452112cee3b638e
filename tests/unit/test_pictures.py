"""`dslc rf --plot` and `dslc rf --image`: what the pictures show, read back from the files
(pixels of PNGs rendered at a fixed resolution, elements of SVGs), and the checks made
before any work."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")

from dslc.cli import main
from dslc.cli.common import progress
from dslc.report.picture import PictureError, read_image

ROOT = Path(__file__).resolve().parents[2]
LECTURE = ROOT / "models" / "lecture"
RF_POOL = LECTURE / "rf_pool.xnet"


def _invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB")).astype(int)


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(mask)
    return int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())


# ---- rf --image ----


def test_small_image_is_enlarged_with_the_field_on_its_pixels(tmp_path: Path) -> None:
    img = tmp_path / "green32.png"
    Image.fromarray(np.full((32, 32, 3), (0, 255, 0), np.uint8)).save(img)
    out = tmp_path / "field.png"
    result = _invoke("rf", RF_POOL, "--image", img, "--unit", "3,4", "-o", out)
    assert result.exit_code == 0, result.stderr
    assert "unit (3, 4) of 'conv2' sees rows 3..10, columns 5..12 (centre 6.5,8.5)" in result.stdout
    pic = _pixels(out)
    assert pic.shape == (600, 900, 3)  # enlarged, not the image's 32 x 32
    green = (pic == (0, 255, 0)).all(axis=2)
    top, bottom, left, right = _bbox(green)
    scale_r, scale_c = (bottom + 1 - top) / 32, (right + 1 - left) / 32
    assert scale_r > 10 and abs(scale_r - scale_c) < 0.5  # square pixels, > 10 screen px each
    white = (pic >= 250).all(axis=2)
    white[:top] = white[bottom + 1 :] = False
    white[:, :left] = white[:, right + 1 :] = False
    f_top, f_bottom, f_left, f_right = _bbox(white)  # the field's white outline, inside
    # rows 3..10 and columns 5..12: from the edge of pixel 3 to the far edge of pixel 10
    assert abs(f_top - (top + 3 * scale_r)) <= 3 and abs(f_bottom - (top + 11 * scale_r)) <= 3
    assert abs(f_left - (left + 5 * scale_c)) <= 3 and abs(f_right - (left + 13 * scale_c)) <= 3
    grid = pic[top + int(scale_r * 20), left : right + 1]  # a row across the image
    assert ((grid != (0, 255, 0)).any(axis=1)).sum() >= 31  # the pixel grid's lines


def test_enlarged_picture_has_its_legend_and_the_neighbours_fields(tmp_path: Path) -> None:
    img = tmp_path / "g.npy"
    np.save(img, np.arange(32 * 32, dtype=np.float32).reshape(32, 32))
    out = tmp_path / "field.svg"
    assert _invoke("rf", RF_POOL, "--image", img, "--unit", "3,4", "-o", out).exit_code == 0
    svg = out.read_text()
    texts = [t.strip() for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]
    assert "field of unit (3, 4): 8 x 8 px" in texts
    assert "centre 6.5, 8.5" in texts
    assert "field of unit (4, 4): 2 px away (jump)" in texts
    assert "field of unit (3, 5): 2 px away (jump)" in texts
    again = tmp_path / "again.svg"
    _invoke("rf", RF_POOL, "--image", img, "--unit", "3,4", "-o", again)
    assert again.read_bytes() == out.read_bytes()  # deterministic: no dates, fixed ids


def test_large_photo_keeps_its_size_dims_the_outside_and_outlines_in_white_on_black(
    tmp_path: Path,
) -> None:
    net = tmp_path / "fcn.xnet"
    net.write_text("input x: 3 x H x W\nconv(4, k=31, stride=4) -> conv(4, k=11, stride=2)\n")
    photo = tmp_path / "red.jpg"
    Image.fromarray(np.full((300, 400, 3), (200, 30, 30), np.uint8)).save(photo, quality=95)
    out = tmp_path / "photo.png"
    result = _invoke(
        "rf", net, "--size", "H=300,W=400", "--image", photo, "--unit", "10,20", "-o", out
    )
    assert result.exit_code == 0, result.stderr
    m = re.search(r"sees rows (\d+)\.\.(\d+), columns (\d+)\.\.(\d+)", result.stdout)
    assert m is not None
    r0, r1, c0, c1 = (int(v) for v in m.groups())
    assert (r1 - r0 + 1, c1 - c0 + 1) == (71, 71)
    pic = _pixels(out)
    assert pic.shape == (300, 400, 3)  # the photo's own resolution
    inside = pic[(r0 + r1) // 2 - 20, (c0 + c1) // 2]
    outside = pic[5, 5]
    assert abs(inside - (200, 30, 30)).max() <= 10
    assert outside[0] < 120 and abs(outside - np.array((200, 30, 30)) * 0.45).max() <= 12
    edge = pic[(r0 + r1) // 2 - 20, c0 - 6 : c0 + 6]  # across the field's left edge
    assert (edge >= 235).all(axis=1).any(), edge  # a white stroke ...
    assert (edge <= 30).all(axis=1).any(), edge  # ... and a black one beside it


@pytest.mark.parametrize("mode", ["P", "LA", "CMYK", "I;16", "RGBA", "L"])
def test_images_of_every_mode_are_read(tmp_path: Path, mode: str) -> None:
    grey = np.tile(np.linspace(0, 255, 16).astype(np.uint8), (8, 1))
    img = Image.fromarray(grey).convert("RGB")
    if mode == "I;16":
        img = Image.fromarray(grey.astype("<u2") * 257)
        assert img.mode == "I;16"  # 16 bits a pixel
    else:
        img = img.convert(mode)
    path = tmp_path / ("x.tiff" if mode == "CMYK" else "x.png")
    img.save(path)
    a = read_image(path)
    assert a.shape == (8, 16, 3) and a.min() >= 0 and a.max() <= 1
    assert abs(a[0, 0].mean() - 0) < 0.02 and abs(a[0, -1].mean() - 1) < 0.02


def test_an_unreadable_image_says_so() -> None:
    with pytest.raises(PictureError, match="not an image Pillow knows"):
        read_image(RF_POOL)


def test_a_fifo_or_device_is_refused_without_blocking(tmp_path: Path) -> None:
    """rf --image on a named pipe waited forever for a writer; /dev/zero was read."""
    import os
    import subprocess

    os.mkfifo(tmp_path / "pipe.png")
    np.save(tmp_path / "x.npy", np.zeros((4, 4)))
    os.mkfifo(tmp_path / "pipe.npy")
    for image in ("pipe.png", "pipe.npy", "/dev/zero"):
        done = subprocess.run(
            [sys.executable, "-m", "dslc", "rf", str(RF_POOL), "--image", image, "--unit", "1,1"],
            capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
        )  # fmt: skip
        assert done.returncode == 1, done.stderr
        assert "not a regular file" in done.stderr
        assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--image", "{notimg}"], 1, "cannot read"),
        (["--image", "{img}", "--unit", "99,2"], 1, "--unit 99,2 is outside the 16 x 16 map"),
        (["--image", "{img}", "--unit", "a,b"], 2, "expected two integers"),
        (["--image", "{img}", "-o", "{tmp}/x.bmp"], 2, "choose a name ending in .png, .svg or"),
        (["--plot", "{tmp}/x.jpg"], 2, "choose a name ending in .png, .svg or .pdf"),
        (["--unit", "1,1"], 2, "--unit needs --image"),
    ],
)
def test_bad_options_are_refused_before_any_work(
    tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    img = tmp_path / "g.png"
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(img)
    notimg = tmp_path / "n.png"
    notimg.write_text("not a picture")
    filled = [a.format(img=img, notimg=notimg, tmp=tmp_path) for a in args]
    result = _invoke("rf", RF_POOL, *filled)
    assert result.exit_code == code
    assert message in result.stderr
    assert result.stdout == ""  # nothing printed: no table first
    assert not list(tmp_path.glob("x.*"))


def test_missing_matplotlib_is_named_with_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = _invoke("rf", RF_POOL, "--plot", tmp_path / "p.png")
    assert result.exit_code == 1
    assert "needs matplotlib: pip install 'dslc[plot]'" in result.stderr
    assert result.stdout == ""


# ---- rf --plot ----


def _points(svg: str, gid: str) -> list[tuple[float, float]]:
    m = re.search(rf'<g id="{re.escape(gid)}">\s*<path d="([^"]*)"', svg)
    assert m is not None, gid
    return [(float(x), float(y)) for x, y in re.findall(r"([\d.]+) ([\d.]+)", m.group(1))]


def test_plot_compares_stacked_3x3_with_one_5x5(tmp_path: Path) -> None:
    out = tmp_path / "cmp.svg"
    a, b = LECTURE / "stacked_3x3.xnet", LECTURE / "single_5x5.xnet"
    result = _invoke("rf", a, b, "--plot", out)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("Receptive field of") == 2  # a table per file
    svg = out.read_text()
    assert "stacked_3x3 (20 params)" in svg and "single_5x5 (26 params)" in svg
    assert "Receptive field: stacked_3x3 vs single_5x5" in svg
    stacked, single = _points(svg, "size:stacked_3x3"), _points(svg, "size:single_5x5")
    assert len(stacked) == 3 and len(single) == 2  # input, conv, conv / input, conv
    assert stacked[-1][1] == pytest.approx(single[-1][1])  # both end at a field of 5
    assert stacked[1][1] > single[1][1]  # (SVG y grows downwards) 3 after one 3x3, 5 after 5x5
    assert stacked[0] == single[0]  # both start at 1, at depth 0
    jumps = _points(svg, "jump:stacked_3x3")
    assert len({y for _, y in jumps}) == 1  # jump stays 1


def test_plot_draws_height_and_width_apart_when_they_differ(tmp_path: Path) -> None:
    out = tmp_path / "f.svg"
    assert _invoke("rf", LECTURE / "factorised_1x3.xnet", "--plot", out).exit_code == 0
    svg = out.read_text()
    height = _points(svg, "size:factorised_1x3:height")
    width = _points(svg, "size:factorised_1x3:width")
    assert height[1][1] != width[1][1] and height[-1][1] == pytest.approx(width[-1][1])
    assert "factorised_1x3 (16 params), height" in svg and "(16 params), width" in svg


def test_plot_of_a_deep_network_marks_its_blocks_on_log_axes(tmp_path: Path) -> None:
    out = tmp_path / "r18.svg"
    assert _invoke("rf", ROOT / "models" / "resnet18.xnet", "--plot", out).exit_code == 0
    svg = out.read_text()
    texts = [t.strip() for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]
    for block in ("layer1", "layer2", "layer3", "layer4"):
        assert block in texts
    assert {"1", "10", "100"} <= set(texts)  # log scale for the size, plain numbers
    assert {"2", "4", "8", "16", "32"} <= set(texts)  # and base 2 for the jump
    size = _points(svg, "size:resnet18")
    ys = [y for _, y in size]
    assert ys == sorted(ys, reverse=True)  # the widest path's field never shrinks


@pytest.mark.parametrize(("suffix", "magic"), [(".png", b"\x89PNG"), (".pdf", b"%PDF")])
def test_plot_formats_by_suffix(tmp_path: Path, suffix: str, magic: bytes) -> None:
    out = tmp_path / ("p" + suffix)
    assert _invoke("rf", RF_POOL, "--plot", out).exit_code == 0
    assert out.read_bytes().startswith(magic)


# ---- progress ----


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_drawn_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    with progress("measuring", delay=0) as tick:
        assert tick is not None
        for k in range(1, 5):
            tick(k, 4)
    assert "measuring" in term.getvalue() and "100%" in term.getvalue()
    quick = _Terminal()
    monkeypatch.setattr(sys, "stderr", quick)
    with progress("measuring", delay=60) as tick:  # work that ends before the delay: no bar
        assert tick is not None
        tick(4, 4)
    assert quick.getvalue() == ""
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    with progress("measuring") as tick:
        assert tick is None


def test_building_a_model_reports_its_layers() -> None:
    from dslc.backend.onnx import build
    from dslc.compiler import compile_file

    analysis = compile_file(str(ROOT / "models" / "lenet5.xnet"), {})
    seen: list[tuple[int, int]] = []
    build(analysis, progress=lambda d, t: seen.append((d, t)))
    n = len(analysis.graph.nodes)
    assert seen[-1] == (n, n) and [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_measure_reports_its_runs() -> None:
    from dslc.backend.rf_measure import measure
    from dslc.compiler import compile_file

    analysis = compile_file(str(RF_POOL), {})
    node = next(n for n in analysis.graph.nodes if n.name == "conv2")
    seen: list[tuple[int, int]] = []
    measure(analysis, node.id, (64, 64), chunk=16, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(k, 8) for k in range(1, 9)]  # 64 rows and 64 columns, 16 at a time


def test_a_network_of_any_size_is_analysed_at_the_images_size(tmp_path: Path) -> None:
    net = tmp_path / "fcn.xnet"
    net.write_text("input x: 1 x H x W\nconv3x3(2, stride=2) -> conv3x3(2)\n")
    img = tmp_path / "wide.png"
    Image.fromarray(np.zeros((48, 64), np.uint8)).save(img)
    result = _invoke("rf", net, "--image", img, "-o", tmp_path / "o.png")
    assert result.exit_code == 0, result.stderr
    assert "note: sizes from the image: H=48, W=64" in result.stdout
    assert "conv2  conv   24 x 32" in result.stdout
    assert "unit (12, 16) of 'conv2'" in result.stdout  # the map's centre by default
    odd = tmp_path / "odd.png"
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(odd)
    bad = _invoke("rf", ROOT / "models" / "unet.xnet", "--image", odd, "-o", tmp_path / "o.png")
    assert bad.exit_code == 1 and bad.stdout == ""
    assert "unet is valid only for H multiples of 16 (the nearest: 32 or 48)" in bad.stderr
    assert "the sizes are the image's; choose others with --size" in bad.stderr


def test_several_files_take_neither_image_nor_measure(tmp_path: Path) -> None:
    a, b = LECTURE / "stacked_3x3.xnet", LECTURE / "single_5x5.xnet"
    result = _invoke("rf", a, b, "--measure")
    assert result.exit_code == 2 and result.stdout == ""
    assert "--measure takes one file; several files are compared with --plot" in result.stderr
    both = _invoke("rf", a, b, "--layer", "conv1")
    assert both.exit_code == 0
    assert both.stdout.count("Receptive field of 'conv1'") == 2
