"""The passes' rules on hand-built IR (tests/unit/irbuild.py): shapes, costs, receptive fields
and activation memory, each checked against numbers worked out by hand in the comments."""

from __future__ import annotations

import pytest
from irbuild import IR

from dslc.diagnostics import DiagnosticError
from dslc.ir.ops import Op
from dslc.passes.cost import count_costs, total
from dslc.passes.memory import activation_memory
from dslc.passes.receptive_field import receptive_fields

# ---- shapes ----


def test_conv_output_size_follows_padding_stride_and_dilation() -> None:
    b = IR(3, 32, 32)
    strided = b.conv(b.input, 16, k=3, stride=2, pad=1)  # (32 + 2 - 3) // 2 + 1 = 16
    dilated = b.conv(b.input, 4, k=3, dilation=2)  # kernel spans 5: 32 - 5 + 1 = 28
    _, shapes = b.done(strided, dilated)
    assert shapes[strided] == (1, 16, 16, 16)
    assert shapes[dilated] == (1, 4, 28, 28)


def test_pools_concat_and_the_classifier_head() -> None:
    b = IR(3, 32, 32)
    p = b.pool(b.input, 3, 2, pad=1)  # (32 + 2 - 3) // 2 + 1 = 16
    c = b.concat(b.conv(p, 16, k=1), b.conv(p, 8, k=1))  # 16 + 8 channels
    g = b.gap(c)
    y = b.dense(b.flatten(g), 10)
    _, shapes = b.done(y)
    assert shapes[p] == (1, 3, 16, 16)
    assert shapes[c] == (1, 24, 16, 16)
    assert shapes[g] == (1, 24, 1, 1)
    assert shapes[y] == (1, 10)


def test_adding_different_shapes_is_a_located_error() -> None:
    b = IR(3, 32, 32)
    b.add(b.conv(b.input, 8, k=1), b.conv(b.input, 4, k=1))
    with pytest.raises(DiagnosticError):
        b.done()


# ---- costs ----


def test_conv_dense_and_batch_norm_costs() -> None:
    b = IR(3, 32, 32)
    conv = b.conv(b.input, 16, k=3, stride=2, pad=1)  # out 16 x 16 x 16
    norm = b.bn(conv)
    dw = b.conv(norm, 16, k=3, pad=1, groups=16, bias=False)  # depthwise, out 16 x 16 x 16
    fc = b.dense(b.flatten(b.gap(dw)), 10)
    g, shapes = b.done(fc)
    costs = count_costs(g, shapes)
    assert costs[conv].params == 16 * 3 * 3 * 3 + 16  # 448
    assert costs[conv].macs == 16 * 16 * 16 * (3 * 3 * 3)  # 110,592
    assert (costs[norm].params, costs[norm].buffers) == (2 * 16, 2 * 16)  # gamma, beta; mean, var
    assert costs[dw].params == 16 * 1 * 3 * 3  # 144: one 3x3 filter per channel
    assert costs[dw].macs == 16 * 16 * 16 * 9  # 36,864
    assert costs[fc].params == 16 * 10 + 10  # 170
    assert costs[fc].macs == 16 * 10
    assert total(costs).params == 448 + 32 + 144 + 170


def test_layers_without_weights_cost_no_parameters() -> None:
    b = IR(3, 8, 8)
    y = b.pool(b.relu(b.input), 2, 2)
    g, shapes = b.done(y)
    assert all(c.params == 0 for c in count_costs(g, shapes).values())


# ---- receptive fields ----


def test_receptive_field_grows_by_kernel_times_jump() -> None:
    b = IR(1, 64, 64)
    c1 = b.conv(b.input, 4, k=3)  # size 3, jump 1
    p = b.pool(c1, 2, 2)  # size 3 + (2 - 1) * 1 = 4, jump 2
    c2 = b.conv(p, 4, k=3)  # size 4 + (3 - 1) * 2 = 8, jump 2
    d = b.conv(c2, 4, k=3, dilation=2)  # spans 5: size 8 + (5 - 1) * 2 = 16, jump 2
    g, shapes = b.done(d)
    rfs = receptive_fields(g, shapes)
    got = {n: (rf.h.size, rf.h.jump) for n, rf in rfs.items() if rf is not None}
    assert got[c1] == (3, 1)
    assert got[p] == (4, 2)
    assert got[c2] == (8, 2)
    assert got[d] == (16, 2)


def test_a_branch_sees_as_far_as_its_widest_path() -> None:
    b = IR(1, 32, 32)
    narrow = b.conv(b.input, 4, k=3, pad=1)  # size 3
    wide = b.conv(b.input, 4, k=5, pad=2)  # size 5, centred on the same pixel
    merged = b.add(narrow, wide)
    g, shapes = b.done(merged)
    rf = receptive_fields(g, shapes)[merged]
    assert rf is not None and (rf.h.size, rf.w.size) == (5, 5)


# ---- activation memory ----


def test_a_chain_peaks_where_a_layer_and_its_input_are_both_alive() -> None:
    b = IR(3, 32, 32)  # 3 * 32 * 32 = 3,072 elements
    conv = b.conv(b.input, 16, k=3, pad=1)  # 16 * 32 * 32 = 16,384
    act = b.relu(conv)  # 16,384
    g, shapes = b.done(act)
    m = activation_memory(g, shapes)
    assert (m.outputs[b.input], m.outputs[conv], m.outputs[act]) == (3072, 16384, 16384)
    # conv step: 3,072 + 16,384 = 19,456; relu step (the input freed): 16,384 * 2 = 32,768
    assert (m.peak, m.peak_node) == (32768, act)


def test_a_skip_keeps_its_tensor_alive_across_the_branch() -> None:
    b = IR(3, 32, 32)  # 3,072
    first = b.conv(b.input, 8, k=3, pad=1)  # 8,192
    second = b.conv(b.input, 8, k=3, pad=1)  # 8,192, while `first` waits for the add
    merged = b.add(first, second)
    g, shapes = b.done(merged)
    m = activation_memory(g, shapes)
    # second's step: input + first + second = 19,456; add's step: 3 * 8,192 = 24,576
    assert (m.peak, m.peak_node) == (3 * 8192, merged)
    assert g.node(merged).op is Op.ADD
