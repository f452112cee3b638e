"""Tests for symbolic dimensions: arithmetic, PyTorch-style halvings, ratio, show, to_json."""

from __future__ import annotations

from fractions import Fraction

import pytest

from dslc.compiler import compile_source
from dslc.ir import dims
from dslc.ir.dims import Sym, sym
from dslc.ir.shapes import conv_out, deconv_out
from dslc.source import SourceFile

H, W, N = sym("H"), sym("W"), sym("N")


def test_a_symbol_shows_as_its_name() -> None:
    assert dims.show(H) == "H"
    assert str(H) == "H"
    assert dims.to_json(H) == "H"
    assert not dims.is_known(H)


def test_integers_stay_integers() -> None:
    assert dims.add(3, 4) == 7
    assert dims.mul(3, 4) == 12
    assert dims.sub(3, 4) == -1
    assert dims.show(224) == "224"
    assert dims.to_json(224) == 224
    assert dims.is_known(224)


def test_cancelling_symbols_gives_an_integer() -> None:
    assert dims.sub(H, H) == 0
    assert isinstance(dims.sub(H, H), int)
    assert dims.mul(H, 0) == 0
    assert dims.sub(dims.add(H, 5), H) == 5


def test_linear_expressions_show_like_arithmetic() -> None:
    assert dims.show(dims.add(dims.mul(H, 2), 1)) == "2*H+1"
    assert dims.show(dims.sub(H, 1)) == "H-1"
    assert dims.show(dims.sub(0, H)) == "-H"
    assert dims.show(dims.mul(H, Fraction(1, 2))) == "H/2"
    assert dims.show(dims.mul(H, Fraction(3, 2))) == "3*H/2"
    assert dims.show(dims.sub(dims.mul(H, Fraction(1, 2)), 1)) == "H/2-1"


def test_products_of_symbols() -> None:
    hw = dims.mul(H, W)
    assert dims.show(hw) == "H*W"
    assert dims.mul(W, H) == hw  # commutative, one canonical form
    assert dims.show(dims.mul(hw, 64)) == "64*H*W"
    assert dims.show(dims.mul(dims.mul(H, Fraction(1, 4)), dims.mul(W, Fraction(1, 4)))) == "H*W/16"
    assert dims.to_json(dims.mul(hw, 64)) == "64*H*W"


def test_equal_expressions_compare_equal() -> None:
    a = dims.add(dims.mul(H, 2), 3)
    b = dims.add(3, dims.add(H, H))
    assert a == b
    assert hash(a) == hash(b)


def test_dividing_by_32_and_back() -> None:
    h32 = dims.mul(H, Fraction(1, 32))
    assert dims.show(h32) == "H/32"
    assert dims.mul(h32, 32) == H


def test_floor_and_ceil_division_assume_divisible_symbols() -> None:
    assert dims.floordiv(H, 2) == dims.mul(H, Fraction(1, 2))
    assert dims.show(dims.floordiv(dims.sub(H, 1), 2)) == "H/2-1"
    assert dims.show(dims.ceildiv(dims.add(H, 1), 2)) == "H/2+1"
    assert dims.floordiv(7, 2) == 3
    assert dims.ceildiv(7, 2) == 4


def test_integer_sizes_must_be_whole() -> None:
    with pytest.raises(ValueError):
        dims.add(Fraction(1, 2), 0)


@pytest.mark.parametrize(("k", "stride", "pad"), [(3, 2, 1), (7, 2, 3), (2, 2, 0), (1, 2, 0)])
def test_five_pytorch_halvings_give_h_over_32(k: int, stride: int, pad: int) -> None:
    h: dims.Dim = H
    for _ in range(5):
        h = conv_out(h, k, stride, 1, pad, pad)
    assert dims.show(h) == "H/32"
    assert h == dims.mul(H, Fraction(1, 32))


def test_same_size_convolution_keeps_a_symbol() -> None:
    assert conv_out(H, 3, 1, 1, 1, 1) == H
    assert conv_out(H, 3, 1, 2, 2, 2) == H  # dilated, half padding
    assert dims.show(conv_out(H, 3, 1, 1, 0, 0)) == "H-2"


def test_transposed_convolution_doubles_a_symbol() -> None:
    assert dims.show(deconv_out(H, 4, 2, 1, 1, 1, 0)) == "2*H"
    assert dims.show(deconv_out(dims.mul(H, Fraction(1, 32)), 2, 2, 1, 0, 0, 0)) == "H/16"


def test_ratio() -> None:
    assert dims.ratio(dims.mul(H, 2), H) == 2
    assert dims.ratio(H, dims.mul(H, Fraction(1, 4))) == 4
    assert dims.ratio(dims.mul(H, W), dims.mul(dims.mul(H, W), Fraction(1, 2))) == 2
    assert dims.ratio(H, W) is None
    assert dims.ratio(dims.add(H, 1), H) is None
    assert dims.ratio(12, 4) == 3


def test_substitute() -> None:
    assert dims.substitute(dims.mul(H, Fraction(1, 32)), {"H": 224}) == 7
    assert dims.substitute(dims.mul(dims.mul(H, W), 3), {"H": 2, "W": 5}) == 30
    assert dims.substitute(17, {}) == 17


def test_sym_repr_and_const() -> None:
    d = dims.add(dims.mul(H, 2), 5)
    assert isinstance(d, Sym)
    assert repr(d) == "Sym(2*H+5)"
    assert d.const() == 5


def test_fcn_shapes_and_macs_are_symbolic() -> None:
    text = (
        "network fcn\ninput image: 3 x H x W\n"
        "conv3x3(8, stride=2) -> maxpool2 -> conv7x7(8, stride=2, pad=3)\n"
        "-> maxpool3(stride=2, pad=1) -> conv1x1(8, stride=2) -> flatten\n"
    )
    a = compile_source(SourceFile("t.xnet", text))
    shapes = {n.name: a.shapes[n.id] for n in a.graph.nodes}
    assert [dims.show(d) for d in shapes["image"]] == ["N", "3", "H", "W"]
    assert [dims.show(d) for d in shapes["conv3"]] == ["N", "8", "H/32", "W/32"]
    assert dims.show(shapes["flatten1"][1]) == "H*W/128"
    macs = {n.name: a.costs[n.id].macs for n in a.graph.nodes}
    assert dims.show(macs["conv1"]) == "54*H*W"  # 8 * H/2 * W/2 * 3*3*3
    assert dims.to_json(macs["conv3"]) == "H*W/16"  # 8 * H/32 * W/32 * 8
