"""Core of xform: abstract values, the IR, primitives, `bind`, and the interpreter stack."""
from __future__ import annotations

import contextvars
import functools
import math
from typing import Any, Callable

import numpy as np

# ----------------------------------------------------------------------------- abstract values

class ShapedArray:
    """The abstract value of an array: its shape and dtype, nothing else."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape: tuple[int, ...], dtype: Any):
        self.shape = shape if type(shape) is tuple else tuple(int(d) for d in shape)
        self.dtype = dtype if isinstance(dtype, np.dtype) else np.dtype(dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def __eq__(self, other):
        return self is other or (isinstance(other, ShapedArray) and self.shape == other.shape
                                 and self.dtype == other.dtype)

    def __hash__(self):
        return hash((self.shape, self.dtype))

    def __repr__(self):
        return f"{short_dtype(self.dtype)}[{','.join(map(str, self.shape))}]"


_SHORT = {"float64": "f64", "float32": "f32", "float16": "f16", "int64": "i64", "int32": "i32",
          "int16": "i16", "int8": "i8", "uint8": "u8", "uint32": "u32", "uint64": "u64",
          "bool": "bool", "complex128": "c128", "complex64": "c64"}


# The avals of scalar types, by type: Python scalars (floats are float64) and numpy's.
_SCALAR_AVALS = {float: ShapedArray((), np.float64), int: ShapedArray((), np.int64),
                 bool: ShapedArray((), np.bool_), complex: ShapedArray((), np.complex128),
                 **{t: ShapedArray((), t) for t in (
                     np.float16, np.float32, np.float64, np.complex64, np.complex128, np.bool_,
                     np.int8, np.int16, np.int32, np.int64,
                     np.uint8, np.uint16, np.uint32, np.uint64)}}


@functools.lru_cache(maxsize=4096)
def _array_aval(shape: tuple[int, ...], dtype: np.dtype) -> ShapedArray:
    """A ShapedArray shared by all arrays of this shape and dtype (avals are never mutated)."""
    return ShapedArray(shape, dtype)


def short_dtype(dtype) -> str:
    return _SHORT.get(np.dtype(dtype).name, np.dtype(dtype).name)


def get_aval(x) -> ShapedArray:
    """The abstract value of a tracer, array or scalar (Python floats are float64)."""
    aval = _SCALAR_AVALS.get(type(x))
    if aval is not None:
        return aval
    if isinstance(x, Tracer):
        return x.aval
    if isinstance(x, (np.ndarray, np.generic)):
        return _array_aval(x.shape, x.dtype)
    if isinstance(x, (int, float, complex)):  # subclasses; bool cannot be subclassed
        return ShapedArray((), np.asarray(x).dtype)
    raise TypeError(f"xform cannot use a value of type {type(x).__name__} as an array: {x!r}. "
                    "Pass numpy arrays, Python or numpy scalars.")


@functools.lru_cache(maxsize=256)
def is_float_dtype(dtype) -> bool:
    """Floating or complex (remembered per dtype: np.issubdtype is slow and asked per value)."""
    return np.issubdtype(dtype, np.inexact)


def typed_key(value):
    """`value` as a cache key that tells equal values of different types apart (1, 1.0 and
    True are equal and hash alike), inside tuples too; None if unhashable."""
    def typed(v):
        if type(v) is tuple:
            return (tuple, tuple(typed(x) for x in v))
        return (type(v), v)
    key = typed(value)
    try:
        hash(key)
    except TypeError:
        return None
    return key


# ----------------------------------------------------------------------------- the IR

class Var:
    """A typed variable of the IR, defined once by an equation or as an input."""

    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    def __repr__(self):
        return f"Var({self.aval})"


class Literal:
    """A constant operand held inline in the IR (scalars and captured concrete arrays)."""

    __slots__ = ("val", "aval")

    def __init__(self, val):
        self.val = val
        self.aval = get_aval(val)

    def __repr__(self):
        return f"Literal({self.val!r})"



class Eqn:
    """One equation: `outputs = primitive[params](*inputs)`."""

    __slots__ = ("prim", "inputs", "outputs", "params")

    def __init__(self, prim: Primitive, inputs: list, outputs: list[Var], params: dict):
        self.prim = prim
        self.inputs = inputs
        self.outputs = outputs
        self.params = params

    def __repr__(self):
        return f"Eqn({self.prim.name}, {len(self.inputs)} in, {len(self.outputs)} out)"


class IR:
    """A typed program: inputs, a list of equations in order, and outputs (vars or literals)."""

    __slots__ = ("in_vars", "eqns", "outs", "derived")

    def __init__(self, in_vars: list[Var], eqns: list[Eqn], outs: list):
        self.in_vars = list(in_vars)
        self.eqns = list(eqns)
        self.outs = list(outs)
        self.derived: dict = {}  # memo of IRs and programs derived from this one (jvp, jit...)

    @property
    def in_avals(self) -> list[ShapedArray]:
        return [v.aval for v in self.in_vars]

    @property
    def out_avals(self) -> list[ShapedArray]:
        return [v.aval for v in self.outs]

    def __str__(self):
        return format_ir(self)

    __repr__ = __str__

    def to_dot(self, style: str = "computational", seeds=(), title: str | None = None) -> str:
        """Graphviz DOT text of the IR: `style="computational"` (variables as nodes,
        operations on edges) or `"dataflow"` (equations as boxes); nested IRs are clusters.
        `seeds` are the indices of tangent or cotangent inputs of a derivative program: what
        depends on them is coloured, and the primal values they reuse are highlighted.

        >>> import xform as xf, xform.numpy as xnp
        >>> xf.make_ir(lambda x: xnp.sin(x) * 2.0)(1.0).to_dot().startswith("digraph")
        True
        """
        from xform import irgraph
        return irgraph.to_dot(self, VarNames(), literal_text, style, seeds, title)

    def render(self, path, format: str | None = None, **to_dot_options):
        """Write the graph of `to_dot(**to_dot_options)` to `path` as SVG, PNG or PDF (from
        the suffix or `format`) with Graphviz (`pip install 'xform[viz]'` and the `dot`
        program); returns the path."""
        from xform import irgraph
        return irgraph.render(self.to_dot(**to_dot_options), path, format)

    def _repr_svg_(self):
        """The graph in notebooks, when Graphviz is installed and the IR is small enough to
        read (up to 300 equations); else None, and the notebook shows the text."""
        from xform import irgraph
        if not irgraph.available() or len(self.eqns) > 300:
            return None
        return irgraph.pipe(self.to_dot(), "svg").decode()


# ----------------------------------------------------------------------------- primitives

class Primitive:
    """A named operation plus its table of rules; every rule lives beside its definition.

    Rules: `impl(*arrays, **params) -> list`, `abstract_eval(*avals, **params) -> list`,
    `jvp(primals, tangents, **params) -> (primals_out, tangents_out)`,
    `transpose(cts_out, *inputs, **params) -> cts_in` (linear inputs are `UndefinedPrimal`),
    `vmap(args, bdims, **params) -> (outs, out_bdims)`, `numba` (lowering); and for a
    higher-order primitive `inline(*arrays, **params) -> list`, its meaning on concrete values
    by binding the equations of the IRs in its params in the current interpreter, so that a
    concrete interpretation (a flop counter, a trace table) sees inside it.

    `has_effect` marks a primitive run for what it does rather than what it returns (a host
    callback such as `xf.debug.print`): simplification never drops or merges its equations,
    nor those of higher-order primitives whose IRs hold one (see `has_effect`), and staging
    records them even on constants.
    """

    def __init__(self, name: str):
        self.name = name
        self.has_effect = False
        self.impl: Callable | None = None
        self.abstract_eval: Callable | None = None
        self.jvp: Callable | None = None
        self.transpose: Callable | None = None
        self.vmap: Callable | None = None
        self.numba: Callable | None = None
        self.inline: Callable | None = None
        registry[name] = self

    def __repr__(self):
        return self.name

    def bind(self, *args, **params) -> list:
        return _current.get().process(self, args, params)

    def bind1(self, *args, **params):
        return _current.get().process(self, args, params)[0]

    def rule(self, kind: str) -> Callable:
        fn = getattr(self, kind)
        if fn is None:
            raise NotImplementedError(
                f"the primitive '{self.name}' has no {kind} rule, so this transformation "
                "cannot be applied to it yet")
        return fn


registry: dict[str, Primitive] = {}


def has_effect(prim: Primitive, params: dict) -> bool:
    """Whether an equation of `prim` with `params` has an effect: its primitive has one, or an
    IR in its params (a loop body, a branch, a jitted function) holds such an equation."""
    if prim.has_effect:
        return True
    for value in params.values():
        for ir in value if type(value) is tuple else (value,):
            if isinstance(ir, IR) and _ir_has_effect(ir):
                return True
    return False


def _ir_has_effect(ir: IR) -> bool:
    found = ir.derived.get("has_effect")
    if found is None:
        found = ir.derived["has_effect"] = any(has_effect(e.prim, e.params) for e in ir.eqns)
    return found


# ----------------------------------------------------------------------------- interpreters

class Interpreter:
    """Base of every interpreter; exactly one is current, and each knows its parent."""

    name = "interpreter"

    def __init__(self, parent: Interpreter | None):
        self.parent = parent
        self.alive = True

    def process(self, prim: Primitive, args: tuple, params: dict) -> list:
        raise NotImplementedError

    def lift(self, x) -> Any:
        """Called for operand values not owned by this interpreter; rejects escaped tracers."""
        if isinstance(x, Tracer) and not x.interp.alive:
            raise escaped_tracer_error(x)
        return x


class EvalInterpreter(Interpreter):
    """The root interpreter: runs each primitive's numpy implementation."""

    name = "eval"

    def process(self, prim, args, params):
        for a in args:
            if isinstance(a, Tracer):
                raise escaped_tracer_error(a)
        return (prim.impl or prim.rule("impl"))(*args, **params)


def escaped_tracer_error(t: Tracer) -> Exception:
    return UnexpectedTracerError(
        f"a traced value of {t.aval} created inside `{t.interp.name}` was used after that "
        f"transformation finished (it escaped, e.g. through a global, a closure or a list kept "
        f"across calls). Return it from the transformed function instead of storing it.")


class UnexpectedTracerError(Exception):
    """A tracer was used outside the transformation that created it."""


class ConcretizationError(TypeError):
    """Python needed a concrete value (for `if`, `bool`, `int`, ...) but had an abstract one."""


class TracerConversionError(TypeError):
    """A traced value was converted to a plain number or numpy array, losing what is traced."""


_root = EvalInterpreter(None)
_current: contextvars.ContextVar[Interpreter] = contextvars.ContextVar("xform_interp",
                                                                        default=_root)


def current_interpreter() -> Interpreter:
    return _current.get()


def is_eager() -> bool:
    """Whether operations run at once on concrete values (no transformation is active)."""
    return _current.get() is _root


class using:  # a class, not a generator context manager: it is cheaper to enter
    """Make `interp` the current interpreter for the duration of the block (the one way to
    switch interpreters)."""

    __slots__ = ("interp", "token")

    def __init__(self, interp: Interpreter):
        self.interp = interp

    def __enter__(self):
        self.token = _current.set(self.interp)
        return self.interp

    def __exit__(self, *exc_info):
        _current.reset(self.token)


def at_root() -> using:
    """Make the root (evaluating) interpreter current."""
    return using(_root)


class new_interpreter(using):
    """Create a child of the current interpreter, make it current, and retire it afterwards."""

    __slots__ = ()

    def __init__(self, cls, *args, **kwargs):
        super().__init__(cls(current_interpreter(), *args, **kwargs))

    def __exit__(self, *exc_info):
        super().__exit__()
        self.interp.alive = False


# ----------------------------------------------------------------------------- AD markers

class Zero:
    """A symbolic zero tangent or cotangent: no array is ever built for it."""

    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    def __repr__(self):
        return f"Zero({self.aval})"


def zeros_like_aval(aval: ShapedArray) -> np.ndarray:
    return np.zeros(aval.shape, aval.dtype)


def instantiate(t):
    """A tangent or cotangent as an array: a symbolic Zero becomes zeros of its aval."""
    return np.zeros(t.aval.shape, t.aval.dtype) if type(t) is Zero else t


def batch_size(args, bdims) -> int:
    """The size of the batch in a vmap rule's operands (read off one with a batch dim)."""
    return next(get_aval(a).shape[d] for a, d in zip(args, bdims) if d is not None)


class UndefinedPrimal:
    """Marks an input that a transpose rule must produce a cotangent for (a linear input)."""

    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    def __repr__(self):
        return f"UndefinedPrimal({self.aval})"


# ----------------------------------------------------------------------------- tracers

class Tracer:
    """A value owned by an interpreter; operators and methods record primitives on it."""

    __slots__ = ("interp",)
    __array_priority__ = 1000
    __array_ufunc__ = None  # make numpy arrays defer to our reflected operators

    aval: ShapedArray

    shape = property(lambda self: self.aval.shape)
    dtype = property(lambda self: self.aval.dtype)
    ndim = property(lambda self: self.aval.ndim)
    size = property(lambda self: self.aval.size)

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d array")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self.shape[0]))

    def concrete(self) -> np.ndarray:
        """The concrete value behind this tracer, or a ConcretizationError."""
        raise ConcretizationError(
            f"this value ({self.aval}) is abstract under `{self.interp.name}`, so Python cannot "
            "use it as a concrete value (in `if`, `while`, `bool()`, `int()`, `float()` or as a "
            "shape). Use xf.lax.cond / xf.lax.while_loop or xnp.where for data-dependent "
            "choices, or mark the argument static with static_argnums.")

    def __bool__(self):
        return bool(self.concrete())  # Python control flow on concrete values works

    def __int__(self):
        return int(self.python_scalar("int"))

    def __float__(self):
        return float(self.python_scalar("float"))

    def __complex__(self):
        return complex(self.python_scalar("complex"))

    def item(self):
        return self.python_scalar("item").item()

    def __index__(self):
        try:
            return int(self.concrete())
        except ConcretizationError as e:
            raise ConcretizationError(
                f"{e} (To index a numpy array with a traced integer, index "
                "xnp.asarray(array) instead: that is a gather, which every transformation "
                "supports.)") from None

    def python_scalar(self, what: str):
        """What `float(x)`, `int(x)` ... would convert, had `x` a concrete value with no
        derivative; a value being differentiated would silently lose its derivative."""
        value = self.concrete()
        raise TracerConversionError(
            f"{what}() of a value being differentiated by `{self.interp.name}` ({self.aval}) "
            "would return a constant and silently drop its derivative. Keep it an array "
            "(xform.numpy functions take 0-d arrays), or convert xf.stop_gradient(x) if a "
            f"constant is meant (its value here is {value!r}).")

    def __array__(self, dtype=None, copy=None):
        raise TracerConversionError(
            f"a traced value ({self.aval} under `{self.interp.name}`) was handed to numpy "
            "(np.asarray, np.array, a numpy function given a list holding it, or an index "
            "into a numpy array), which would compute with a constant and silently drop its "
            "derivative or batch. Use xform.numpy on traced values (`import xform.numpy as "
            "xnp`: xnp.asarray, xnp.sum, ...; index xnp.asarray(array) with traced indices).")

    def __setitem__(self, idx, value):
        raise TypeError(
            f"traced arrays are immutable, so `x[idx] = value` cannot work on {self.aval} "
            f"under `{self.interp.name}`; use the functional update `x = x.at[idx].set(value)` "
            "(or .add, .multiply, .min, .max)")

    def __hash__(self):
        raise TypeError("traced values are not hashable; they cannot be dict keys or set items")

    def __repr__(self):
        return f"{type(self).__name__}<{self.interp.name}>({self.aval})"

    # Operators and array methods come from xform.numpy (see define_tracer_methods), which
    # defines their semantics; derivative rules use the strict ops of the primitives instead.


def define_tracer_methods(methods: dict) -> None:
    """The one hook through which the numpy layer gives traced values their operators, array
    methods and numpy protocols (core cannot import it: it sits above core)."""
    for name, fn in methods.items():
        setattr(Tracer, name, fn)


def concrete_or_none(x):
    """The concrete value of `x` if it has one (plain arrays, JVP primals), else None."""
    if not isinstance(x, Tracer):
        return x
    try:
        return x.concrete()
    except ConcretizationError:
        return None


# ----------------------------------------------------------------------------- tracing to IR

class TraceTracer(Tracer):
    """A tracer standing for an IR variable (`ir_var`: not `var`, which is the array method)."""

    __slots__ = ("ir_var",)

    def __init__(self, interp, var: Var):
        self.interp = interp
        self.ir_var = var

    @property
    def aval(self):
        return self.ir_var.aval


class TraceInterpreter(Interpreter):
    """Records equations that involve its own tracers; everything else runs in the parent.

    Work on values it does not own is evaluated at once (partial evaluation): this is how
    concrete primal values stay concrete under AD while tangents are staged into an IR.
    Captured values from enclosing transformations become explicit inputs (const vars).
    """

    def __init__(self, parent, name: str = "make_ir"):
        super().__init__(parent)
        self.name = name
        self.eqns: list[Eqn] = []
        self.const_vars: dict[int, tuple[Var, Any]] = {}

    def new_arg(self, aval: ShapedArray) -> TraceTracer:
        return TraceTracer(self, Var(aval))

    def atom(self, x):
        if isinstance(x, Tracer):
            if x.interp is self:
                return x.ir_var
            x = self.lift(x)
        elif isinstance(x, np.ndarray):
            if x.ndim == 0:
                return Literal(np.asarray(x))
        elif type(x) in _SCALAR_AVALS or np.ndim(x) == 0:
            return Literal(x)
        entry = self.const_vars.get(id(x))
        if entry is None:
            entry = self.const_vars[id(x)] = (Var(get_aval(x)), x)
        return entry[0]

    def process(self, prim, args, params):
        for a in args:
            if isinstance(a, TraceTracer) and a.interp is self:
                break
        else:  # none of the operands is ours: evaluate in the parent
            if self.parent is _root:  # the common eager case, without a detour
                return _root.process(prim, args, params)
            with using(self.parent):
                return prim.bind(*args, **params)
        return self.record(prim, args, params)

    def record(self, prim, args, params) -> list:
        """Append the equation `prim(*args)` and return tracers of its outputs."""
        inputs = [self.atom(a) for a in args]
        abstract_eval = prim.abstract_eval or prim.rule("abstract_eval")
        outs = list(map(Var, abstract_eval(*[a.aval for a in inputs], **params)))
        self.eqns.append(Eqn(prim, inputs, outs, params))
        return [TraceTracer(self, v) for v in outs]

    def finish(self, in_tracers: list[TraceTracer], outs: list) -> tuple[IR, list]:
        """The IR `(*const_vars, *inputs) -> outs` and the values of its const vars."""
        out_atoms = [self.atom(o) for o in outs]
        const_vars = [v for v, _ in self.const_vars.values()]
        consts = [c for _, c in self.const_vars.values()]
        ir = IR(const_vars + [t.ir_var for t in in_tracers], self.eqns, out_atoms)
        return ir, consts


class StagingInterpreter(TraceInterpreter):
    """Records every operation on a traced value, also on values captured from enclosing
    transformations (they become inputs), so that nothing of the function runs outside it."""

    def process(self, prim, args, params):
        args = [self._capture(a) for a in args]
        if has_effect(prim, params):  # it happens when the staged function runs, on constants too
            return self.record(prim, args, params)
        return super().process(prim, args, params)

    def _capture(self, x):
        if isinstance(x, Tracer) and x.interp is not self:
            return TraceTracer(self, self.atom(x))
        return x


def trace_closed(fn: Callable, in_avals: list[ShapedArray], name: str,
                 copy_consts: bool = False) -> tuple[IR, list]:
    """Trace `fn(*flat) -> list` into a closed IR (the one tracer of jit, lax, custom rules,
    checkpoint and make_ir). Captured concrete arrays become literals (copies, read-only, with
    `copy_consts`: the values at trace time, whatever happens to the arrays later); captured
    traced values become the IR's leading inputs, returned in order as the second result."""
    with at_root(), new_interpreter(StagingInterpreter, name) as interp:
        args = [interp.new_arg(a) for a in in_avals]
        ir, consts = interp.finish(args, list(fn(*args)))
    traced = [i for i, c in enumerate(consts) if isinstance(c, Tracer)]
    concrete = [i for i, c in enumerate(consts) if not isinstance(c, Tracer)]
    n = len(consts)
    ir = IR([ir.in_vars[i] for i in concrete + traced] + ir.in_vars[n:], ir.eqns, ir.outs)
    concrete_consts = [_frozen_copy(consts[i]) if copy_consts else consts[i] for i in concrete]
    return close_ir(ir, concrete_consts), [consts[i] for i in traced]


def _frozen_copy(x):
    if not isinstance(x, np.ndarray):
        return x
    x = np.array(x)
    x.flags.writeable = False
    return x


def eval_ir(ir: IR, args: list) -> list:
    """Run an IR equation by equation through `bind`; inside a trace this inlines it."""
    env: dict[Var, Any] = {}

    def read(a):
        return a.val if isinstance(a, Literal) else env[a]

    if len(args) != len(ir.in_vars):
        raise TypeError(f"the IR takes {len(ir.in_vars)} inputs but got {len(args)}")
    for v, x in zip(ir.in_vars, args):
        env[v] = x
    for eqn in ir.eqns:
        outs = eqn.prim.bind(*[read(a) for a in eqn.inputs], **eqn.params)
        for v, x in zip(eqn.outputs, outs):
            env[v] = x
    return [read(a) for a in ir.outs]


def close_ir(ir: IR, consts: list) -> IR:
    """Inline concrete consts as literals (a self-contained IR); traced consts stay inputs."""
    if not consts:
        return ir
    if any(isinstance(c, Tracer) for c in consts):
        raise ValueError("cannot close an IR over traced values")
    n = len(consts)
    sub = {v: Literal(c) for v, c in zip(ir.in_vars[:n], consts)}
    eqns = [Eqn(e.prim, [sub.get(a, a) if isinstance(a, Var) else a for a in e.inputs],
                e.outputs, e.params) for e in ir.eqns]
    outs = [sub.get(a, a) if isinstance(a, Var) else a for a in ir.outs]
    return IR(ir.in_vars[n:], eqns, outs)


# ----------------------------------------------------------------------------- printing
#
# The text form of an IR: typed binders, one equation a line, sorted params, nested IRs
# indented.

class VarNames:
    """Hands out short names a, b, ..., z, ba, bb, ... in order of first appearance."""

    def __init__(self):
        self.names: dict[Var, str] = {}

    def __call__(self, v: Var) -> str:
        name = self.names.get(v)
        if name is None:
            n = len(self.names)
            name = ""
            while True:
                name = chr(ord("a") + n % 26) + name
                n //= 26
                if n == 0:
                    break
            self.names[v] = name
        return name


def literal_text(lit: Literal) -> str:
    val = np.asarray(lit.val)
    if val.ndim == 0:
        return f"{val.item()!r}:{lit.aval}"
    return f"const:{lit.aval}"


def _param(value, indent: int, names: VarNames) -> str:
    if isinstance(value, IR):
        body = format_ir(value, indent + 4, names)
        return "\n" + body
    if isinstance(value, (tuple, list)) and value and all(isinstance(v, IR) for v in value):
        return "(" + ",".join("\n" + format_ir(v, indent + 4, names) for v in value) + ")"
    if isinstance(value, np.dtype):
        return value.name
    if isinstance(value, type) and issubclass(value, np.generic):
        return np.dtype(value).name
    return repr(value)


def format_ir(ir: IR, indent: int = 0, names: VarNames | None = None) -> str:
    names = names or VarNames()
    pad = " " * indent

    def atom(a) -> str:
        return literal_text(a) if isinstance(a, Literal) else names(a)

    def binder(v: Var) -> str:
        return f"{names(v)}:{v.aval}"

    lines = [f"{pad}{{ lambda {' '.join(binder(v) for v in ir.in_vars)} . let"]
    for eqn in ir.eqns:
        outs = " ".join(binder(v) for v in eqn.outputs)
        params = ""
        if eqn.params:
            params = "[" + " ".join(f"{k}={_param(eqn.params[k], indent + 4, names)}"
                                    for k in sorted(eqn.params)) + "]"
        args = " ".join(atom(a) for a in eqn.inputs)
        lhs = f"{outs} = " if outs else ""  # an equation run for its effect binds nothing
        lines.append(f"{pad}    {lhs}{eqn.prim.name}{params} {args}")
    lines.append(f"{pad}  in ({', '.join(atom(a) for a in ir.outs)}) }}")
    return "\n".join(lines)
