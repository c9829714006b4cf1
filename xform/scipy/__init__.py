"""scipy-compatible functions (`xform.scipy.special`, `.stats`, `.linalg`) that work on arrays and
under transforms."""
from xform.scipy import linalg, special, stats  # noqa: F401
