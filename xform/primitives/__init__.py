"""The primitive set, grouped by family; importing this package registers every primitive."""
from xform.primitives import elementwise, indexing, linalg, reductions, structural  # noqa: F401
