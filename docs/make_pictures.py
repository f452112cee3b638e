"""Draw the pictures of docs/lecture.md with dslc itself, into docs/pictures/ (or a folder given).

    python3 docs/make_pictures.py [OUT_DIR]

Each picture is one `dslc rf` command, run from the repository root; tests/docs/test_docs.py
runs this script and checks that the committed pictures show what it draws now
(`python3 -m pytest tests/docs --update-golden` refreshes them). Needs the plot extra.
"""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import chdir
from pathlib import Path

import numpy as np
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
LECTURE = "models/lecture"

# picture name -> the dslc command that draws it ({out}: the picture, {image}: a 32 x 32 image)
PICTURES = {
    "stacked_vs_5x5.svg": [
        "rf",
        f"{LECTURE}/stacked_3x3.xnet",
        f"{LECTURE}/single_5x5.xnet",
        f"{LECTURE}/factorised_1x3.xnet",
        "--plot",
        "{out}",
    ],
    "rf_pool_growth.svg": ["rf", f"{LECTURE}/rf_pool.xnet", "--plot", "{out}"],
    "rf_pool_field.svg": [
        "rf",
        f"{LECTURE}/rf_pool.xnet",
        "--image",
        "{image}",
        "--unit",
        "3,4",
        "-o",
        "{out}",
    ],
}


def lecture_image() -> np.ndarray:
    """A 32 x 32 grey picture with some structure: rings around the centre."""
    y, x = np.mgrid[0:32, 0:32]
    r = np.hypot(y - 15.5, x - 15.5)
    return (0.5 + 0.35 * np.cos(r / 2.2)).astype(np.float32)


def make(out_dir: Path) -> list[Path]:
    """Draw every picture into out_dir; returns their paths."""
    from dslc.cli import main

    out_dir = out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    made = []
    with tempfile.TemporaryDirectory() as tmp, chdir(ROOT):
        image = Path(tmp) / "rings32.npy"
        np.save(image, lecture_image())
        for name, command in PICTURES.items():
            out = out_dir / name
            args = [a.format(out=out, image=image) for a in command]
            result = CliRunner().invoke(main, args)
            if result.exit_code != 0:
                raise RuntimeError(f"dslc {' '.join(args)} failed:\n{result.output}")
            made.append(out)
    return made


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "pictures"
    for path in make(target):
        print(f"wrote {os.path.relpath(path)}")
