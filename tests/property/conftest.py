"""The import path of the property suite's strategies (its Hypothesis profiles are in
tests/conftest.py)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:  # `import strategies` under any pytest import mode
    sys.path.insert(0, HERE)
