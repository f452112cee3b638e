"""E07xx: a --weights file that does not fit the network."""

from __future__ import annotations

from dslc.codes.entry import CodeEntry, Weights, entry

__all__ = ["CODES"]


# A small network for the weights examples: conv.weight (4, 3, 3, 3), conv.bias (4),
# fc.weight (10, 4), fc.bias (10).
_NET = "conv: conv3x3(4) -> gap -> flatten -> fc: dense(10)\n"
_FITS: Weights = (
    ("conv.weight", (4, 3, 3, 3), "float32"),
    ("conv.bias", (4,), "float32"),
    ("fc.weight", (10, 4), "float32"),
    ("fc.bias", (10,), "float32"),
)

CODES: tuple[CodeEntry, ...] = (
    entry(
        "E0701",
        "a tensor is missing from the weights file",
        """`dslc compile --weights W` needs every tensor the network expects, by name: the
       layer's hierarchical name plus .weight, .bias, .running_mean or .running_var. 'dslc
       weights FILE.xnet' lists them. Label the layers so that their names are the file's
       keys (the zoo uses torchvision's state_dict keys).""",
        _NET,
        _NET,
        weights=_FITS[:3],
        fixed_weights=_FITS,
    ),
    entry(
        "E0702",
        "the weights file has a tensor the network does not expect",
        """Every tensor in the weights file must belong to a layer of the network (PyTorch's
       num_batches_tracked counters excepted). An unexpected name usually means a layer is
       named differently in the .xnet file; the help line suggests the closest expected
       name, most often one that is missing.""",
        _NET,
        _NET,
        weights=(*_FITS, ("head.bias", (10,), "float32")),
        fixed_weights=_FITS,
    ),
    entry(
        "E0703",
        "a tensor of the weights file has the wrong shape",
        """A tensor's shape differs from what the layer needs: a different number of channels
       or classes, a kernel of another size, or a dense layer's (in, out) written the other
       way round (dslc, like PyTorch, stores (out, in)).""",
        _NET,
        _NET,
        weights=(*_FITS[:2], ("fc.weight", (4, 10), "float32"), _FITS[3]),
        fixed_weights=_FITS,
    ),
    entry(
        "E0704",
        "a tensor of the weights file has the wrong dtype",
        """Weights are loaded as float32; a tensor saved in another type (float16, bfloat16,
       float64, an integer type) is refused rather than converted silently. Convert the
       weights to float32 before saving them.""",
        _NET,
        _NET,
        weights=(*_FITS[:3], ("fc.bias", (10,), "float16")),
        fixed_weights=_FITS,
    ),
    entry(
        "E0705",
        "the weights file cannot be read",
        """--weights reads .safetensors files and .npz archives of plain numeric arrays.
       Other formats (PyTorch's pickled .pt/.pth), damaged files and .npz archives that
       need pickle (object arrays) are refused: nothing in a weights file is ever
       executed. Damaged and hostile files are refused before they cost time or memory:
       truncated files, headers that are not JSON or are absurdly large, bad offsets, shapes
       or dtypes, more than 50,000 tensors, paths that are not regular files (a directory, a
       FIFO, a device), .npz members that are not .npy arrays or that would inflate to more
       than their tensor needs (zip bombs), and names given twice. Reading .safetensors needs
       the safetensors package: pip install 'dslc[weights]'.""",
        _NET,
        _NET,
        weights=(("fc.weight", (10, 4), "object"),),
        fixed_weights=_FITS,
    ),
    entry(
        "W0706",
        "the weights file holds NaN or infinite values",
        """A tensor of the weights file holds NaN or an infinity, most often the trace of a
       training run that diverged. The model is written all the same, but its outputs will be
       NaN or infinite wherever those weights take part. The warning names every such tensor
       (the first eight, then a count).""",
        _NET,
        _NET,
        severity="warning",
        weights=(*_FITS[:3], ("fc.bias", (10,), "float32 (all NaN)")),
        fixed_weights=_FITS,
    ),
)
