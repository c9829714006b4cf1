"""Code generation for the Numba backend: a closed IR as the source of one Python function.

Elementwise chains, the broadcasts feeding them and the reductions consuming them become single
loop nests with no intermediate arrays; everything else is a whole-array statement emitted by the
primitive's own `numba` rule (matrix products and decompositions call shared kernels over
BLAS/LAPACK; exp, tanh, sin and friends call the vectorisable ones of vecmath). Each equation
appears as a comment above its code, its variables named as the IR printer names them.
"""
from __future__ import annotations

import functools
import hashlib
import itertools
import math
import os
from typing import NamedTuple

import numpy as np

from xform.backends.parts import NJIT, shape_generic, split_into_parts
from xform.core import IR, Eqn, Literal, ShapedArray, Var, VarNames, is_float_dtype, literal_text
from xform.primitives.lowering import (BROADCAST, INLINE, Indexed, Reduction, Scalar,
                                       dtype_expr, scalar_literal)


class Unsupported(NotImplementedError):
    """An equation has no Numba lowering; the program runs in the interpreter instead."""


# dtypes Numba has no arithmetic for on the CPU (np.longdouble is float64 on some platforms)
_UNCOMPILABLE = {np.dtype(t) for t in (np.float16, np.longdouble, np.clongdouble)} - {
    np.dtype(np.float64), np.dtype(np.complex128)}


def _check_dtypes(values):
    """Raise Unsupported for a value of a dtype Numba cannot compute in, so that the program
    runs in the interpreter (with a warning naming the dtype)."""
    for v in values:
        if v.aval.dtype in _UNCOMPILABLE:
            raise Unsupported(f"{v.aval.dtype.name} values cannot be compiled (Numba has no "
                              f"{v.aval.dtype.name} arithmetic)")


class Val(NamedTuple):
    """An operand or result of a whole-array rule: its expression in the source and its aval."""
    expr: str
    aval: ShapedArray


# ----------------------------------------------------------------------------- inlining

def inline_calls(ir: IR) -> IR:
    """Replace every equation whose rule is INLINE by the equations of its `ir` param."""
    rename: dict[Var, object] = {}

    def sub(a, env):
        return env.get(a, a) if isinstance(a, Var) else a

    eqns: list[Eqn] = []
    for e in ir.eqns:
        ins = [sub(a, rename) for a in e.inputs]
        if e.prim.numba is not INLINE:
            eqns.append(Eqn(e.prim, ins, e.outputs, e.params))
            continue
        inner = inline_calls(e.params["ir"])
        env = dict(zip(inner.in_vars, ins))
        for ie in inner.eqns:
            fresh = [Var(v.aval) for v in ie.outputs]  # one IR may be inlined twice
            eqns.append(Eqn(ie.prim, [sub(a, env) for a in ie.inputs], fresh, ie.params))
            env.update(zip(ie.outputs, fresh))
        rename.update(zip(e.outputs, [sub(a, env) for a in inner.outs]))
    return IR(ir.in_vars, eqns, [sub(a, rename) for a in ir.outs])


# ----------------------------------------------------------------------------- code generation

def _uniform(val: np.ndarray):
    """The single value of an array whose elements are all equal, else None."""
    flat = val.reshape(-1)
    if flat.size and (flat == flat[0]).all() and not np.isnan(flat[0:1].astype(float)).any():
        return flat[0]
    return None


def _band(val: np.ndarray):
    """(value, a, b, offset, first, last) of an array holding one `value` wherever index a
    minus index b is `offset` and index a lies in [first, last], and zeros elsewhere (the
    identity matrices of jacfwd and hessian, sliced, padded or scaled), else None."""
    if val.ndim < 2:
        return None
    where = np.nonzero(val)
    count = where[0].size
    if count == 0 or 2 * count > val.size:
        return None
    value = val[tuple(w[0] for w in where)]
    grid = np.ogrid[tuple(slice(n) for n in val.shape)]
    for a, b in itertools.combinations(range(val.ndim), 2):
        offset = where[a][0] - where[b][0]
        if (where[a] - where[b] != offset).any():
            continue
        first, last = where[a].min(), where[a].max()
        mask = (grid[a] - grid[b] == offset) & (grid[a] >= first) & (grid[a] <= last)
        band = np.where(np.broadcast_to(mask, val.shape), value, np.zeros((), val.dtype))
        if band.astype(val.dtype).tobytes() == np.ascontiguousarray(val).tobytes():
            return value, a, b, int(offset), int(first), int(last)
    return None


def _band_element(em: Emitter, val: np.ndarray, band: tuple) -> str:
    """The element of a band array (see `_band`) at the loop indices i0, i1, ...: computed
    from the indices, not read from memory."""
    value, a, b, offset, first, last = band
    sign = "+" if offset >= 0 else "-"
    conds = [f"i{a} == i{b} {sign} {abs(offset)}" if offset else f"i{a} == i{b}"]
    conds += [f"i{a} >= {first}"] * (first > max(0, offset))
    conds += [f"i{a} <= {last}"] * (last < min(val.shape[a] - 1, val.shape[b] - 1 + offset))
    zero = em.literal(0, val.dtype)
    return f"({em.literal(value, val.dtype)} if {' and '.join(conds)} else {zero})"


def _param_text(v) -> str:
    """A param on one comment line; a nested IR (whose code follows) shows just its type."""
    if isinstance(v, IR):
        return f"{{{' '.join(map(repr, v.in_avals))} -> {' '.join(map(repr, v.out_avals))}}}"
    if isinstance(v, tuple) and any(isinstance(x, IR) for x in v):
        return f"({', '.join(map(_param_text, v))})"
    return " ".join(repr(v).split())


def _eqn_comment(eqn: Eqn, name_of) -> str:
    params = " ".join(f"{k}={_param_text(v)}" for k, v in sorted(eqn.params.items()))
    params = f"[{params}]" if params else ""
    outs = " ".join(f"{name_of(v)}:{v.aval}" for v in eqn.outputs)
    ins = " ".join(name_of(a) for a in eqn.inputs)
    return f"# {outs} = {eqn.prim.name}{params} {ins}"


class Group:
    """A loop nest over one shape: fused elementwise statements, stores and reductions."""

    def __init__(self, em: Emitter, shape: tuple):
        self.em, self.shape = em, shape
        self.index = ", ".join(f"i{k}" for k in range(len(shape)))
        self.body: list[str] = []
        self.local: dict[Var, str] = {}
        self.loads: dict[int, str] = {}
        self.eqn_ids: set[int] = set()
        self.reductions: list[tuple[Var, str, tuple, str]] = []
        self.guards: list[str] = []  # see Scalar: all true, or the loop reruns with `exact`
        self.vector_math = False  # the body calls vecmath, which pays only in SIMD loops

    def reduced(self, v: Var) -> bool:
        return any(r[0] is v for r in self.reductions)

    def operand(self, a) -> str:
        """The scalar expression of an operand inside the loop body."""
        em = self.em
        read = None
        if isinstance(a, Literal):
            val = np.asarray(a.val)
            if val.ndim == 0:
                return em.literal(val, val.dtype)
            u = _uniform(val)
            if u is not None:
                return em.literal(u, val.dtype)
            band = em.band(val)
            read = band and _band_element(em, val, band)
        elif a in self.local:
            return self.local[a]
        if a.aval.shape == ():
            return em.atom(a)
        key = id(a)
        if key not in self.loads:
            name = em.fresh("x")
            self.body.append(f"{name} = {read or f'{em.atom(a)}[{self.index}]'}")
            self.loads[key] = name
        return self.loads[key]

    def add(self, i: int, eqn: Eqn, expr: str, cast: bool = True, exact: str | None = None,
            guard: str | None = None):
        out = eqn.outputs[0]
        name = self.em.fresh("s")
        self.body.append(_eqn_comment(eqn, self.em.name_of))
        typed = (lambda e: f"{dtype_expr(out.aval.dtype)}({e})") if cast else (lambda e: e)
        if exact is not None and self.shape == ():
            expr = exact  # no loop to vectorise
        elif exact is not None:
            if guard not in self.guards:
                self.guards.append(guard)
            exact = f"{name} = {typed(exact)}"
        line = f"{name} = {typed(expr)}"
        self.body.append((line, exact) if exact else line)
        self.vector_math |= "V." in expr
        self.local[out] = name
        self.eqn_ids.add(i)

    def add_broadcast(self, i: int, eqn: Eqn, shape, broadcast_dimensions):
        (x,) = eqn.inputs
        if x.aval.shape == () or (isinstance(x, Literal) and _uniform(np.asarray(x.val))
                                  is not None):
            return self.add(i, eqn, self.operand(x) if x.aval.shape == ()
                            else self.em.literal(_uniform(np.asarray(x.val)), x.aval.dtype))
        idx = ", ".join("0" if x.aval.shape[k] == 1 and shape[d] != 1 else f"i{d}"
                        for k, d in enumerate(broadcast_dimensions))
        self.add(i, eqn, f"{self.em.atom(x)}[{idx}]")

    def add_reduction(self, i: int, eqn: Eqn, kind: str, axes: tuple):
        value = self.operand(eqn.inputs[0])
        acc = self.em.fresh("acc")
        self.body.append(_eqn_comment(eqn, self.em.name_of))
        self.reductions.append((eqn.outputs[0], kind, axes, acc, value))
        self.eqn_ids.add(i)

    def flush(self):
        em, shape = self.em, self.shape
        stores, pre, post = [], [], []
        for v, name in self.local.items():
            if not em.used_outside(v, self.eqn_ids):
                continue
            if shape == ():
                em.names[v] = name
                continue
            arr = em.fresh("v")
            pre.append(f"{arr} = {em.alloc(shape, v.aval.dtype)}")
            stores.append(f"{arr}[{self.index}] = {name}")
            em.names[v] = arr
        updates, lanes = [], []
        for v, kind, axes, acc, value in self.reductions:
            kept = [k for k in range(len(shape)) if k not in axes]
            dtype = v.aval.dtype
            init = _reduction_init(kind, dtype)
            if kept:
                pre.append(f"{acc} = {em.alloc(v.aval.shape, dtype)}")
                ref = f"{acc}[{', '.join(f'i{k}' for k in kept)}]"
            else:
                ref = acc
            if self._wants_partials(axes, dtype):
                # A reduced axis outside a kept one: each result gets several combinations.
                again = bool(kept) and min(axes) < max(kept)
                if again:
                    pre.append(f"{acc}[...] = {scalar_literal(init, dtype)}")
                update, partials = self._lanes(kind, dtype, kept, ref, value, again)
                updates.append(update)
                lanes.append(partials)
            elif kept:
                pre.append(f"{acc}[...] = {scalar_literal(init, dtype)}")
                updates += _reduction_update(kind, dtype, ref, value)
            else:
                # Full float32 sums accumulate in float64: one rounding at the end.
                acc_dtype = _partial_dtype(kind, dtype)
                pre.append(f"{acc} = {scalar_literal(init, acc_dtype)}")
                if acc_dtype != dtype:
                    post.append(f"{acc} = {dtype_expr(dtype)}({acc})")
                updates += _reduction_update(kind, dtype, ref, value)
            em.names[v] = acc
        em.lines += pre
        if not self.guards:
            em.lines += self._loops(self._body(exact=False) + stores + updates, lanes)
        else:
            fast = em.fresh("fast")
            em.lines.append(f"{fast} = True")
            checks = [f"{fast} &= {guard}" for guard in self.guards]
            em.lines += self._loops(self._body(exact=False) + stores + updates + checks, lanes)
            em.lines.append(f"if not {fast}:  # an argument outside a fast function's domain")
            em.lines += ["    " + s for s in pre + self._loops(self._body(exact=True) + stores
                                                              + updates, lanes)]
        em.lines += post

    def _wants_partials(self, axes: tuple, dtype) -> bool:
        """Whether a reduction over `axes` pays for partials (see `_lanes`): it reduces the
        innermost axis, which is long enough, in a loop long enough to matter (and not of
        complex numbers, which kernels.reduce_partials cannot compare)."""
        shape = self.shape
        return (len(shape) - 1 in axes and math.prod(shape) >= MIN_LANES_TOTAL
                and not np.issubdtype(dtype, np.complexfloating)
                and shape[-1] >= (MIN_LANES_VECTOR_MATH if self.vector_math else MIN_LANES))

    def _lanes(self, kind: str, dtype, kept: list[int], ref: str, value: str, again: bool):
        """A reduction over the innermost axis (and perhaps others), accumulated in `LANES`
        independent partial results, one per position in a block of that axis: the innermost
        loop then carries no dependence from one element to the next and vectorises, which a
        serial floating-point accumulation does not (LLVM may not reorder it). The partials
        are combined pairwise after the reduced loops, in the same order on every call.

        Returns the update statement for the loop body and the partials' reset and combination
        (stored in `ref`, or combined with it when `again`).
        """
        em = self.em
        width = min(LANES, self.shape[-1])
        lane_dtype = _partial_dtype(kind, dtype)
        ln = em.alloc((width,), lane_dtype)
        j = f"i{len(self.shape) - 1}" if self.shape[-1] <= LANES else "lj"
        init = scalar_literal(_reduction_init(kind, dtype), lane_dtype)
        reset = [f"{em.kernels.fill_partials}({ln}, {init})"]
        total = f"{em.kernels.reduce_partials}({ln}, {_KINDS.index(kind)})"
        result = _combine(kind, dtype, ref, total) if again else total
        combine = [f"{ref} = {dtype_expr(dtype)}({result})"]
        update = f"{ln}[{j}] = {_combine(kind, dtype, f'{ln}[{j}]', value)}"
        return update, _Partials(max(kept) + 1 if kept else 0, reset, combine)

    def _body(self, exact: bool) -> list[str]:
        return [s[exact] if isinstance(s, tuple) else s for s in self.body]

    def _loops(self, body: list[str], lanes: list[_Partials]) -> list[str]:
        """The loop nest over the group's shape around `body`, each set of partials reset
        before the loop of its depth and combined after it."""
        return self._nest(0, body, lanes) if self.shape else body

    def _nest(self, k: int, body: list[str], lanes: list[_Partials]) -> list[str]:
        shape = self.shape
        if k == len(shape):
            return body or ["pass"]
        inner = self._nest(k + 1, body, lanes)
        n = shape[k]
        if k == len(shape) - 1 and lanes and n > LANES:
            # Blocks of LANES elements, the lane index `lj` counting from 0 in each (a block
            # index times LANES, so that Numba sees a non-negative index and does not wrap it).
            count = str(LANES) if n % LANES == 0 else f"min({LANES}, {n} - lb * {LANES})"
            loop = [f"for lb in range({-(-n // LANES)}):", f"    for lj in range({count}):",
                    f"        i{k} = lb * {LANES} + lj"] + ["        " + s for s in inner]
        else:
            loop = [f"for i{k} in range({n}):"] + ["    " + s for s in inner]
        at_k = [p for p in lanes if p.depth == k]
        return ([s for p in at_k for s in p.reset] + loop + [s for p in at_k for s in p.combine])


LANES = 256     # partial results of a reduction over the innermost axis
# A shorter innermost axis is reduced serially: resetting and combining the partials of each
# row costs more than they save, unless the loop body has vectorisable math to run as SIMD;
# so is a loop of fewer elements, which takes a microsecond either way.
MIN_LANES, MIN_LANES_VECTOR_MATH, MIN_LANES_TOTAL = 128, 16, 1024
_KINDS = ("sum", "prod", "max", "min")  # the codes of kernels.reduce_partials


class _Partials(NamedTuple):
    """The partial results of a reduction over the innermost axis: reset before the loop over
    axis `depth` (the outermost reduced axis after the last kept one) and combined after it."""
    depth: int
    reset: list[str]
    combine: list[str]


def _partial_dtype(kind: str, dtype):
    """float32 sums accumulate in float64 (one rounding at the end); the rest in `dtype`."""
    return np.dtype(np.float64) if kind == "sum" and dtype == np.float32 else dtype


def _reduction_init(kind: str, dtype):
    if kind == "sum":
        return 0
    if kind == "prod":
        return 1
    if dtype == np.bool_:
        return kind == "min"
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return info.min if kind == "max" else info.max
    return -np.inf if kind == "max" else np.inf


def _reduction_update(kind: str, dtype, ref: str, value: str) -> list[str]:
    if kind == "sum":
        return [f"{ref} += {value}"]
    if kind == "prod":
        return [f"{ref} *= {value}"]
    if dtype == np.bool_:
        return [f"{ref} = {_combine(kind, dtype, ref, value)}"]
    return [f"if {_replaces(kind, dtype, ref, value)}:", f"    {ref} = {value}"]


def _combine(kind: str, dtype, acc: str, value: str) -> str:
    """The expression reducing the accumulated `acc` with a later `value`."""
    if kind == "sum":
        return f"{acc} + {value}"
    if kind == "prod":
        return f"{acc} * {value}"
    if dtype == np.bool_:
        return f"{acc} {'or' if kind == 'max' else 'and'} {value}"
    return f"{value} if {_replaces(kind, dtype, acc, value)} else {acc}"


def _replaces(kind: str, dtype, acc: str, value: str) -> str:
    """Whether a later `value` replaces `acc` in a max or min reduction. NaN propagates: once
    the accumulator is NaN no comparison replaces it. Of equal values the later wins, as in
    numpy (it tells 0.0 from -0.0)."""
    cmp = ">=" if kind == "max" else "<="
    nan = f" or {value} != {value}" if np.issubdtype(dtype, np.inexact) else ""
    return f"{value} {cmp} {acc}{nan}"


class _KernelNames:
    """`em.kernels.gemm` is the source expression calling the helper kernel `gemm`, checked
    against xform.backends.kernels as the source is generated (a misspelt kernel fails here)."""

    def __getattr__(self, name: str) -> str:
        from xform.backends import kernels  # imports Numba: generating source is compiling
        if name.startswith("_") or not callable(getattr(kernels, name, None)):
            raise AttributeError(f"xform.backends.kernels has no helper kernel {name!r}")
        return f"K.{name}"


class Emitter:
    """Builds the body of one generated function from an (inlined) IR."""

    def __init__(self, ir: IR):
        self.ir = ir
        self.lines: list[str] = []
        self.names: dict[Var, str] = {}
        self.consts: list[np.ndarray] = []
        self.buffers: list[tuple[tuple, np.dtype]] = []
        self.literals: dict[str, str] = {}
        self.const_names: dict[int, str] = {}
        self.bands: dict[int, tuple | None] = {}
        self.counter = 0
        self.consumers: dict[Var, set[int]] = {}
        for i, e in enumerate(ir.eqns):
            for a in e.inputs:
                if isinstance(a, Var):
                    self.consumers.setdefault(a, set()).add(i)
        self.outs = {a for a in ir.outs if isinstance(a, Var)}
        self.groups: dict[tuple, Group] = {}
        self.owner: dict[Var, Group] = {}
        self.var_names = VarNames()
        self.kernels = _KernelNames()

    # -- names
    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def name_of(self, a) -> str:
        """The name of an operand in comments: as the IR printer names it."""
        return literal_text(a) if isinstance(a, Literal) else self.var_names(a)

    def atom(self, a) -> str:
        """The expression of a materialised value (arrays by name, scalars as scalars)."""
        if isinstance(a, Literal):
            val = np.asarray(a.val)
            if val.ndim == 0:
                return scalar_literal(val, val.dtype)
            key = id(a.val)
            if key not in self.const_names:
                self.const_names[key] = f"c{len(self.consts)}"
                self.consts.append(np.ascontiguousarray(val))
            return self.const_names[key]
        return self.names[a]

    def band(self, val: np.ndarray) -> tuple | None:
        """`_band(val)` of a constant, found once."""
        if id(val) not in self.bands:
            self.bands[id(val)] = _band(val)
        return self.bands[id(val)]

    def literal(self, value, dtype) -> str:
        """A typed scalar constant, hoisted to a module global (Numba freezes it)."""
        expr = scalar_literal(value, dtype)
        if expr not in self.literals:
            self.literals[expr] = f"L{len(self.literals)}"
        return self.literals[expr]

    def alloc(self, shape: tuple, dtype) -> str:
        """An uninitialised array: a buffer the caller allocates and passes in (Numba compiles
        np.empty anew for every dtype and rank, which costs more than the call saves)."""
        name = f"b{len(self.buffers)}"
        self.buffers.append((tuple(shape), np.dtype(dtype)))
        return name

    def used_outside(self, v: Var, eqn_ids: set[int]) -> bool:
        return v in self.outs or not self.consumers.get(v, set()) <= eqn_ids

    def line(self, text: str):
        """Append a statement to the function body (used by whole-array rules)."""
        self.lines.append(text)

    def nested(self, ir: IR, inputs: list[str]) -> tuple[list[str], list[str]]:
        """Emit a closed IR held in a param (a branch, a loop body) with its inputs bound to
        the expressions `inputs`: returns its statements, for the rule to indent under its
        `if`/`while`/`for`, and the expressions of its outputs. Names and constants are shared
        with this emitter, since the nested code lives in the same generated function."""
        ir = inline_calls(ir)
        child = _NestedEmitter(ir)
        child.consts, child.const_names = self.consts, self.const_names
        child.literals, child.var_names = self.literals, self.var_names
        child.counter = self.counter
        child.names.update(zip(ir.in_vars, inputs))
        child.emit(ir.eqns)
        outs = [child.atom(a) for a in ir.outs]
        self.counter = child.counter
        return child.lines, outs

    # -- groups
    def settle(self, a, keep: Group | None = None):
        """Make operand `a` available outside open loops: flush the group producing it."""
        if not isinstance(a, Var):
            return
        g = self.owner.get(a)
        if g is not None and (g is not keep or g.reduced(a)):
            self.flush(g)

    def flush(self, g: Group):
        del self.groups[g.shape]
        for v in list(g.local) + [r[0] for r in g.reductions]:
            self.owner.pop(v, None)
        g.flush()

    def group(self, shape) -> Group:
        g = self.groups.get(shape)
        if g is None:
            g = self.groups[shape] = Group(self, shape)
        return g

    def claim(self, g: Group, eqn: Eqn):
        for v in eqn.outputs:
            self.owner[v] = g

    # -- the walk
    def emit(self, eqns: list[Eqn]):
        for i, eqn in enumerate(eqns):
            _check_dtypes(eqn.outputs)
            rule = eqn.prim.numba
            if rule is None:
                raise Unsupported(f"the primitive '{eqn.prim.name}' has no Numba lowering")
            if isinstance(rule, Scalar):
                shape = eqn.outputs[0].aval.shape
                for a in eqn.inputs:
                    self.settle(a, self.groups.get(shape))
                g = self.group(shape)
                out_dtype = eqn.outputs[0].aval.dtype
                t = dtype_expr(out_dtype)
                cast = not (rule.keeps_float and is_float_dtype(out_dtype) and all(
                    a.aval.dtype == out_dtype for a in eqn.inputs[-2:]))
                ops = [g.operand(a) for a in eqn.inputs]
                g.add(i, eqn, rule.expr(*ops, t=t, **eqn.params), cast,
                      *[f and f(*ops, t=t, **eqn.params) for f in (rule.exact, rule.guard)])
                self.claim(g, eqn)
            elif rule is BROADCAST:
                self.settle(eqn.inputs[0])
                g = self.group(eqn.outputs[0].aval.shape)
                g.add_broadcast(i, eqn, **eqn.params)
                self.claim(g, eqn)
            elif isinstance(rule, Reduction):
                (x,) = eqn.inputs
                self.settle(x, self.groups.get(x.aval.shape))
                g = self.group(x.aval.shape)
                if eqn.params["axes"]:
                    g.add_reduction(i, eqn, rule.kind, eqn.params["axes"])
                else:  # reducing over no axes is the identity
                    g.add(i, eqn, g.operand(x))
                self.claim(g, eqn)
            elif isinstance(rule, Indexed):
                if not self.indexed(i, eqn, rule):
                    self.whole(eqn, rule.whole)
            elif callable(rule):
                self.whole(eqn, rule)
            else:
                raise Unsupported(f"the primitive '{eqn.prim.name}' has no Numba lowering")
        for g in list(self.groups.values()):
            self.flush(g)

    def whole(self, eqn: Eqn, rule):
        """Emit an equation as the whole-array statements of its rule."""
        for a in eqn.inputs:
            self.settle(a)
        ins = [Val(self.atom(a), a.aval) for a in eqn.inputs]
        outs = []
        for v in eqn.outputs:
            self.names[v] = self.fresh("v")
            outs.append(Val(self.names[v], v.aval))
        self.lines.append(_eqn_comment(eqn, self.name_of))
        rule(self, ins, outs, **eqn.params)

    def indexed(self, i: int, eqn: Eqn, rule: Indexed) -> bool:
        """Fuse an equation of an `Indexed` rule into the loop over its result, reading its
        materialised operands there; False where the rule does not apply."""
        (out,) = eqn.outputs
        for a in eqn.inputs:
            self.settle(a)
        ops = [self.literal(a.val, a.aval.dtype) if isinstance(a, Literal) and a.aval.shape == ()
               else self.atom(a) for a in eqn.inputs]
        index = [f"i{k}" for k in range(out.aval.ndim)]
        expr = rule.expr(ops, [a.aval for a in eqn.inputs], index, **eqn.params)
        if expr is None:
            return False
        g = self.group(out.aval.shape)
        g.add(i, eqn, expr)
        self.claim(g, eqn)
        return True


class _NestedEmitter(Emitter):
    """Emits a branch or loop body (see `Emitter.nested`)."""

    def alloc(self, shape: tuple, dtype) -> str:
        # Fresh on every run of the block: a loop body reruns, and a buffer passed in once
        # would be overwritten while a loop carry still refers to it.
        return f"np.empty({tuple(shape)!r}, {dtype_expr(dtype)})"


@functools.cache
def _helpers_fingerprint() -> str:
    """Names the helper code that Numba links into a generated program (kernels, vectorised
    math, the BLAS chosen): part of each generated source, so that a program in the disk cache
    is never loaded with stale helpers or a BLAS symbol this process did not register. The
    numpy and Numba versions count too (Numba's own cache also keys by CPU and version)."""
    import numba

    from xform.backends.blas import FLAVOUR
    digest = hashlib.sha256(f"{FLAVOUR} numpy {np.__version__} numba {numba.__version__}".encode())
    for name in ("kernels.py", "special_kernels.py", "window_kernels.py", "vecmath.py",
                 "blas.py"):
        with open(os.path.join(os.path.dirname(__file__), name), "rb") as f:
            digest.update(f.read())
    return f"{FLAVOUR} {digest.hexdigest()[:16]}"


def _sizes_from_consts(em: Emitter, lines: list[str], literals: dict[str, str]
                   ) -> tuple[list[str], dict[str, str]]:
    """A short body whose sizes (see `parts.shape_generic`) and float constants are read from
    two more consts, so that its module, and its compiled code, serve every shape: (its lines,
    the literal constants left in the module)."""
    lines, sizes, floats = shape_generic(lines, literals)
    if not sizes:
        return lines, literals
    prologue = [f"z{j} = c{len(em.consts)}[{j}]" for j in range(len(sizes))]
    em.consts.append(np.array(sizes, np.int64))
    if floats:
        values = [np.float64(eval(literals[name], {"np": np})) for name in floats]
        prologue += [f"{name} = {literals[name].split('(')[0]}(c{len(em.consts)}[{j}])"
                     for j, name in enumerate(floats)]
        em.consts.append(np.array(values, np.float64))
    return prologue + lines, {k: v for k, v in literals.items() if k not in floats}


def generate(ir: IR) -> tuple[str, list[np.ndarray], list[tuple]]:
    """Source of a module defining `kernel(*consts, *buffers, *inputs) -> tuple of outputs`,
    the consts, and the (shape, dtype) of each buffer."""
    var_outs = [isinstance(a, Var) for a in ir.outs]
    ir = inline_calls(ir)
    _check_dtypes(ir.in_vars)
    em = Emitter(ir)
    args = [f"a{k}" for k in range(len(ir.in_vars))]
    for v, name in zip(ir.in_vars, args):
        em.names[v] = name
        em.var_names(v)  # named first, as the IR printer names them
    em.emit(ir.eqns)
    # The kernel returns every output that is a variable of the IR it was given, also those
    # that inlining turned into literals (an inner jitted function's constant outputs).
    outs = [em.atom(a) if isinstance(a, Var) or np.ndim(a.val) == 0 else em.atom(a) + ".copy()"
            for a, var in zip(ir.outs, var_outs) if var]
    literals = {name: expr for expr, name in em.literals.items()}
    lines, cut = em.lines, len(em.lines) > SPLIT_LINES
    if not cut:
        lines, literals = _sizes_from_consts(em, lines, literals)
    params = ([f"c{k}" for k in range(len(em.consts))]
              + [f"b{k}" for k in range(len(em.buffers))] + args)
    ret = f"return ({''.join(o + ', ' for o in outs)})"
    header = (f"# Helpers: {_helpers_fingerprint()}\n"
              "import math\n\nimport numba\nimport numpy as np\n\n"
              "from xform.backends import kernels as K\n"
              "from xform.backends import vecmath as V\n")
    parts, decorator = "", NJIT
    if cut:  # Numba's compile time grows faster than a function's size
        parts, lines = split_into_parts(lines, params, ret, header, literals)
        decorator = "# A plain function: compiled, it would link in and optimise every part again\n"
    body = "\n".join("    " + s for s in lines + [ret])
    source = (f"# Generated by xform from an IR with {len(ir.eqns)} equations.\n" + header + "\n"
              + "".join(f"{name} = {expr}\n" for name, expr in literals.items()) + "\n\n"
              + parts + decorator + f"def kernel({', '.join(params)}):\n{body}\n")
    return source, em.consts, em.buffers


# A body longer than this is cut into parts (see xform.backends.parts); a short one stays whole,
# since parts cost more than they save there.
SPLIT_LINES = 600
