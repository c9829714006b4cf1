"""The primitive set, grouped by family; importing this package registers every primitive."""
from xform.primitives import elementwise, indexing, linalg, reductions, structural  # noqa: F401
from xform.primitives import bits  # noqa: F401
from xform.primitives import debug  # noqa: F401
from xform.primitives import sorting  # noqa: F401
from xform.primitives import conv  # noqa: F401
from xform.primitives import special  # noqa: F401
