"""Hypothesis profiles for the adversarial suite (the same names as tests/property's).

HYPOTHESIS_PROFILE=ci (the default): 40 examples a property, derandomized, no deadline.
HYPOTHESIS_PROFILE=thorough: 1000 examples a property, random.

Registering a profile again under the same name replaces it with the same settings, so this
file and tests/property/conftest.py can both be collected in one run.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
