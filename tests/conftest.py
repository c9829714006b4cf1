"""Shared pytest configuration: deterministic hypothesis profiles and numpy error state."""

import os

# Verify every IR that tracing and the transformations produce (set before xform is imported).
os.environ.setdefault("XFORM_VERIFY_IR", "1")
# Compile before the first call returns, so that tests see the compiled program they ask for
# (tests/test_tiered.py covers background compilation explicitly).
os.environ.setdefault("XFORM_COMPILE", "sync")

import numpy as np  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=25,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("dev", deadline=None, max_examples=25)

if os.environ.get("CI") or os.environ.get("HYPOTHESIS_PROFILE") == "ci":
    settings.load_profile("ci")
else:
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or "dev")

# Invalid floating-point ops (e.g. 0/0, sqrt of a negative) in property tests are expected
# and checked explicitly; keep numpy's RuntimeWarnings out of the test output.
np.seterr(invalid="ignore")
