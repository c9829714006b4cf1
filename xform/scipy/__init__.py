"""scipy-compatible functions (`xform.scipy.special`) that work on arrays and under transforms."""
from xform.scipy import special  # noqa: F401
