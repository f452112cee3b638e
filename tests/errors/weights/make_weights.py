"""Writes the weights files the E07xx golden cases load (run from this folder to refresh).

The network of those cases expects conv.weight (4, 3, 3, 3), conv.bias (4), fc.weight
(10, 4) and fc.bias (10).
"""

from __future__ import annotations

import io
import zipfile

import numpy as np

FITS = {
    "conv.weight": np.zeros((4, 3, 3, 3), np.float32),
    "conv.bias": np.zeros(4, np.float32),
    "fc.weight": np.zeros((10, 4), np.float32),
    "fc.bias": np.zeros(10, np.float32),
}


def main() -> None:
    """Write one file per case."""
    missing = {k: v for k, v in FITS.items() if k != "conv.bias"}
    np.savez("missing.npz", **missing)
    np.savez(
        "unexpected.npz",
        **{
            **FITS,
            "classifier.bias": np.zeros(10, np.float32),
            "conv.num_batches_tracked": np.array(3),
        },
    )
    np.savez("shape.npz", **{**FITS, "fc.weight": np.zeros((4, 10), np.float32)})
    np.savez("dtype.npz", **{**FITS, "conv.weight": np.zeros((4, 3, 3, 3), np.float64)})
    np.savez("pickled.npz", **{**FITS, "fc.bias": np.array([None] * 10, dtype=object)})
    np.savez("nan.npz", **{**FITS, "fc.bias": np.full(10, np.nan, np.float32)})
    # a zip bomb: 4 MiB of zeros as fc.weight (which needs 160 bytes), deflated to a few KiB
    with zipfile.ZipFile("bomb.npz", "w", zipfile.ZIP_DEFLATED) as z:
        for name, array in {**FITS, "fc.weight": np.zeros(2**20, np.float32)}.items():
            buf = io.BytesIO()
            np.save(buf, array)
            z.writestr(f"{name}.npy", buf.getvalue())


if __name__ == "__main__":
    main()
