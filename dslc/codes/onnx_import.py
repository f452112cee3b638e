"""E08xx: ONNX models read by the importer (`dslc summary model.onnx`)."""

from __future__ import annotations

from dslc.codes.entry import CodeEntry, entry

__all__ = ["CODES"]

# Examples are ONNX text syntax (onnx.parser), saved as example.onnxtxt.
_HEAD = '<ir_version: 8, opset_import: ["" : 17]>\n'
_GOOD = (
    _HEAD
    + "net (float[N,3,32,32] image) => (float[N,2,32,32] out)\n"
    + "<float[2,3,1,1] w = {1, 0, 0, 0, 1, 0}>\n"
    + "{\n    out = Conv (image, w)\n}\n"
)

CODES: tuple[CodeEntry, ...] = (
    entry(
        "E0801",
        "the file is not an ONNX model",
        """A file named .onnx is read as a serialised ONNX ModelProto (and .onnxtxt as ONNX's
       text syntax). Its bytes could not be decoded as one: the file is truncated, is
       another format (a PyTorch checkpoint, a TensorFlow SavedModel), or is empty. Export
       the model with torch.onnx.export or tf2onnx.""",
        _HEAD
        + "net (float[N,3,32,32] image) => (float[N,2,32,32] out)\n{\n    out = Conv (image\n}\n",
        _GOOD,
        head=False,
        onnx=True,
    ),
    entry(
        "E0802",
        "an ONNX op dslc has no layer for",
        """The node is an op (or an op used in a way, or from a domain) that dslc cannot
       express as one of its layers. The rest of the model is still analysed: the node's
       stored tensors are counted as its parameters, its output shape is taken from ONNX
       shape inference (where it cannot tell, the layers computed from the node's output are
       left out, and the message says how many), and receptive fields past it are unknown.
       `dslc compile` refuses such a model with this code too.""",
        _HEAD
        + "net (float[N,3,32,32] image) => (float[N,2,32,32] out)\n"
        + "<float[2,3,1,1] w = {1, 0, 0, 0, 1, 0}>\n"
        + "{\n    c = Conv (image, w)\n"
        + "    out = Sin (c)\n}\n",
        _GOOD,
        head=False,
        onnx=True,
    ),
    entry(
        "E0803",
        "an ONNX model input without a usable shape",
        """dslc analyses networks whose inputs are N x C x H x W (or N x features) with every
       dim but the batch a number or a named size. An input of unknown rank, or with an
       unnamed unknown dim, leaves nothing to compute shapes from. Export with a fixed
       example input, or name the dynamic dims (dynamic_axes / dynamic_shapes).""",
        _HEAD
        + "net (float[N,3,?,32] image) => (float[N,2,?,32] out)\n"
        + "<float[2,3,1,1] w = {1, 0, 0, 0, 1, 0}>\n"
        + "{\n    out = Conv (image, w)\n}\n",
        _GOOD,
        head=False,
        onnx=True,
    ),
    entry(
        "E0804",
        "an ONNX graph ONNX Runtime would not run",
        """The model decodes, but its graph breaks a rule ONNX Runtime checks before it runs
       a model: a node reads a name that no input, stored tensor or node defines, a tensor is
       defined twice, a node has no output, or the nodes form a cycle. (Nodes merely out of
       order are sorted, as ONNX Runtime sorts them.) The file was edited by hand or by a
       tool that broke it; `onnx.checker.check_model(model, full_check=True)` says the same.""",
        _HEAD
        + "net (float[N,3,32,32] image) => (float[N,2,32,32] out)\n"
        + "<float[2,3,1,1] w = {1, 0, 0, 0, 1, 0}>\n"
        + "{\n    out = Conv (image, weight)\n}\n",
        _GOOD,
        head=False,
        onnx=True,
    ),
    entry(
        "E0805",
        "an ONNX stored tensor whose data cannot be read",
        """A stored tensor's data does not fit its dims (the file holds more or fewer bytes
       than the dims need, or a dim is negative: ONNX Runtime refuses such a model), or, for
       `dslc weights --save`, its external data cannot be read. External data is read as
       ONNX Runtime reads it: a regular file inside the model's folder, named by a relative
       path that neither climbs out (`..`) nor is a link pointing out of the folder.""",
        _HEAD
        + "net (float[N,3,32,32] image) => (float[N,2,32,32] out)\n"
        + "<float[2,3,1,1] w = {1, 0, 0, 0, 1}>\n"
        + "{\n    out = Conv (image, w)\n}\n",
        _GOOD,
        head=False,
        onnx=True,
    ),
)
