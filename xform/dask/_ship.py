"""Programs as they travel to Dask workers: a traced IR pickled to bytes, named by their hash.

What reaches a worker is the IR, never the user's Python function, so no worker imports the
user's module to rebuild it. Primitives pickle by name (a registry lookup on arrival: every
primitive is registered when `xform` is imported) and an IR drops its memo of derived programs
(`IR.derived`, which holds compiled code). Anything else held in params — a custom-rule or a
`debug.callback` function — goes through cloudpickle, as Dask sends functions.
"""
from __future__ import annotations

import hashlib
import io
import pickle

import cloudpickle

from xform.core import IR, Primitive, registry


def _primitive(name: str) -> Primitive:
    try:
        return registry[name]
    except KeyError:
        raise RuntimeError(f"this worker's xform has no primitive '{name}': install the same "
                           "xform version on the workers as on the client") from None


def _ir(in_vars, eqns, outs) -> IR:
    return IR(in_vars, eqns, outs)


class _IRPickler(cloudpickle.CloudPickler):
    def reducer_override(self, obj):
        if isinstance(obj, Primitive):
            return _primitive, (obj.name,)
        if isinstance(obj, IR):
            return _ir, (obj.in_vars, obj.eqns, obj.outs)
        return super().reducer_override(obj)


def dumps(ir: IR) -> bytes:
    """`ir` as bytes that any process with the same xform can load."""
    buffer = io.BytesIO()
    _IRPickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(ir)
    return buffer.getvalue()


class Program:
    """A pickled IR and the hash of its bytes, which names it on the cluster and in each
    worker's cache of compiled programs."""

    __slots__ = ("key", "payload")

    def __init__(self, ir: IR):
        self.payload = dumps(ir)
        self.key = hashlib.sha256(self.payload).hexdigest()

    def load(self) -> IR:
        return pickle.loads(self.payload)

    def __dask_tokenize__(self):
        return self.key

    def __reduce__(self):
        return _program, (self.key, self.payload)

    def __repr__(self):
        return f"Program({self.key[:12]}, {len(self.payload)} bytes)"


def _program(key: str, payload: bytes) -> Program:
    program = Program.__new__(Program)
    program.key, program.payload = key, payload
    return program
