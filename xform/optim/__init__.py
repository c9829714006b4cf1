"""Optimisers: optax-style gradient transformations and schedules (`transforms`), and the
one-call `minimize`."""
from xform.optim.minimize import *  # noqa: F401,F403
from xform.optim.transforms import *  # noqa: F401,F403
