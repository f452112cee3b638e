"""Hypothesis profiles for the property suite, and the import path of its strategies.

HYPOTHESIS_PROFILE=ci (the default): 40 examples a property, derandomized, no deadline.
HYPOTHESIS_PROFILE=thorough: 1000 examples a property, random.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:  # `import strategies` under any pytest import mode
    sys.path.insert(0, HERE)

settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
