"""`xform.lax`'s operations besides control flow: elementwise, structural, dynamic slicing,
reductions, scans and sorting, each a thin front end over xform's primitives with lax's
strict rules (no promotion, no implicit broadcasting). `xform.lax` re-exports them."""
from xform.lax_ops import elementwise, reductions, slicing, sorting, structural
from xform.lax_ops.elementwise import *  # noqa: F401,F403
from xform.lax_ops.reductions import *  # noqa: F401,F403
from xform.lax_ops.slicing import *  # noqa: F401,F403
from xform.lax_ops.sorting import *  # noqa: F401,F403
from xform.lax_ops.structural import *  # noqa: F401,F403
from xform.lax_ops import convolution, windowed  # noqa: E402  (convolutions, pooling)
from xform.lax_ops.convolution import *  # noqa: F401,F403
from xform.lax_ops.windowed import *  # noqa: F401,F403

__all__ = sorted({*elementwise.__all__, *reductions.__all__, *slicing.__all__,
                  *sorting.__all__, *structural.__all__, *convolution.__all__,
                  *windowed.__all__})
