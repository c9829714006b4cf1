"""User-facing custom derivative rules (`custom_jvp`, `custom_vjp`) and `checkpoint`.

Called plainly, each runs the user's function. Under a transformation, the function is traced
once per signature into an IR and bound as one equation of a primitive from
`xform.higher_order.custom`, whose rules call the user's derivative rules (adapted here to flat
lists of arrays, with the pytree plumbing and the checks of what the rules return).
"""
from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable

import numpy as np

from xform import tree
from xform.core import (IR, ConcretizationError, Literal, Tracer, Var, concrete_or_none, get_aval,
                        is_eager, is_float_dtype, trace_closed, typed_key)
from xform.higher_order.custom import Rule, custom_jvp_call, custom_vjp_call
from xform.higher_order.custom import remat as remat_call
from xform.transforms.simplify import simplify

__all__ = ["checkpoint", "checkpoint_policies", "custom_jvp", "custom_vjp", "remat"]


# ----------------------------------------------------------------------------- shared plumbing

def _fun_name(fun) -> str:
    name = getattr(fun, "__name__", "fun")
    return "lambda" if name == "<lambda>" else name


def _resolve_args(fun, args, kwargs, name) -> tuple:
    """Keyword arguments bound to their positions, so that argnums refer to one list."""
    if not kwargs:
        return args
    bound = inspect.signature(fun).bind(*args, **kwargs)
    bound.apply_defaults()
    if bound.kwargs:
        raise TypeError(f"{name}: keyword-only arguments {sorted(bound.kwargs)} are not "
                        "supported here; pass them positionally")
    return bound.args


class _Signature:
    """One call split into fixed arguments (nondiff/static: passed as they are) and the flat
    array leaves of the others."""

    def __init__(self, args: tuple, fixed_argnums, name: str, what: str):
        n = len(args)
        nums = set()
        for i in fixed_argnums:
            if not isinstance(i, int) or not -n <= i < n:
                raise ValueError(f"{name}: {what} {tuple(fixed_argnums)} does not fit a call "
                                 f"with {n} positional arguments")
            nums.add(i % n)
        self.n_args = n
        self.fixed_nums = sorted(nums)
        self.fixed = [args[i] for i in self.fixed_nums]
        self.dynamic = [a for i, a in enumerate(args) if i not in nums]
        self.leaves, self.in_tree = tree.flatten(self.dynamic)
        self.avals = [get_aval(x) for x in self.leaves]
        fixed_key = typed_key(tuple(self.fixed))
        self.key = None if fixed_key is None else (self.in_tree, tuple(self.avals), fixed_key)

    def full_args(self, leaves) -> list:
        """All positional arguments, the dynamic ones rebuilt from `leaves`."""
        dynamic = iter(tree.unflatten(self.in_tree, list(leaves)))
        fixed = dict(zip(self.fixed_nums, self.fixed))
        return [fixed[i] if i in fixed else next(dynamic) for i in range(self.n_args)]

    def dynamic_args(self, leaves) -> tuple:
        return tuple(tree.unflatten(self.in_tree, list(leaves)))


def _trace_primal(fun, sig: _Signature, kind: str, name: str, specialise: bool):
    """(closed IR over (*traced consts, *leaves), traced consts, output treedef, whether the IR
    holds for every argument value).

    Values the function closes over that an enclosing transformation traces become explicit
    leading inputs rather than escaping."""
    out_tree = []

    def flat_fun(*leaves):
        out_leaves, treedef = tree.flatten(fun(*sig.full_args(leaves)))
        out_tree.append(treedef)
        return out_leaves
    try:
        ir, consts = trace_closed(flat_fun, sig.avals, f"{kind}({name})")
    except ConcretizationError as e:
        ir = _specialised_ir(flat_fun, sig) if specialise else None
        if ir is None:
            raise ConcretizationError(
                f"{kind} function {name}: under this transformation its body is traced with "
                f"abstract arguments, so it cannot use their values in Python control flow. "
                f"{e}") from None
        return ir, [], out_tree[-1], False
    return simplify(ir), consts, out_tree[0], True


def _specialised_ir(flat_fun, sig: _Signature) -> IR | None:
    """For arguments that all have concrete values (plain arrays, or primals under eager
    differentiation): an IR returning the function's outputs at exactly these values, or None.

    This lets the body use Python control flow there, as when called plainly. It is sound
    because such a primitive's IR is only ever evaluated at these same values: no vmap or
    tracing interpreter owns a concrete argument, and differentiation uses the custom rules."""
    values = [concrete_or_none(x) for x in sig.leaves]
    if any(v is None for v in values):
        return None
    outs = flat_fun(*values)
    if any(isinstance(o, Tracer) for o in outs):
        return None
    return IR([Var(a) for a in sig.avals], [], [Literal(o) for o in outs])


def _staged(cache: dict, fun, sig: _Signature, kind: str, name: str, make_rules,
            specialise: bool = True):
    """(ir, traced consts, out treedef, rules): traced once per signature unless the function
    closes over traced values; `make_rules(out_tree, out_avals)` adapts the user's rules."""
    entry = cache.get(sig.key) if sig.key is not None else None
    if entry is not None:
        return entry
    ir, consts, out_tree, general = _trace_primal(fun, sig, kind, name, specialise)
    entry = (ir, consts, out_tree, make_rules(out_tree, ir.out_avals))
    if sig.key is not None and general and not consts:
        cache[sig.key] = entry
    return entry


def _flat_like(value, want_tree, avals, what: str, strict_ints: bool = True) -> list:
    """The leaves of `value`, checked against the structure, shapes and dtypes expected."""
    leaves, got_tree = tree.flatten(value)
    if got_tree != want_tree:
        raise TypeError(f"{what} has structure {got_tree}, but {want_tree} was expected")
    for i, (x, want) in enumerate(zip(leaves, avals)):
        if not strict_ints and not is_float_dtype(want.dtype):
            continue
        got = get_aval(x)
        if got.shape != want.shape or got.dtype != want.dtype:
            raise TypeError(f"{what}: leaf {i} is {got} but {want} was expected (same shape "
                            "and dtype as the corresponding primal value)")
    return leaves


def _pair(result, what: str):
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        raise TypeError(f"{what} must return a pair, got {type(result).__name__}")
    return result


class _CustomDerivative:
    """What custom_jvp and custom_vjp share: called plainly, the function runs; under a
    transformation its body is traced once per signature and bound as one primitive whose
    derivative rules are the user's (adapted by `_flat_rules`, bound by `_bind`)."""

    kind = ""

    def __init__(self, fun: Callable, nondiff_argnums=()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = tuple(nondiff_argnums)
        self._cache: dict = {}

    def __call__(self, *args, **kwargs):
        name = _fun_name(self.fun)
        self._check_rules(name)
        args = _resolve_args(self.fun, args, kwargs, name)
        if is_eager():
            return self.fun(*args)
        sig = _Signature(args, self.nondiff_argnums, name, "nondiff_argnums")
        ir, consts, out_tree, rules = _staged(
            self._cache, self.fun, sig, self.kind, name,
            lambda out_tree, out_avals: self._flat_rules(sig, name, out_tree, out_avals))
        return tree.unflatten(out_tree, self._bind(consts, sig.leaves, ir, rules, name))


# ----------------------------------------------------------------------------- custom_jvp

class custom_jvp(_CustomDerivative):
    """A function with a user-defined JVP rule, used by every transformation in place of
    differentiating the function's body (and itself differentiable: write it with xform ops).

    `nondiff_argnums` name arguments (e.g. functions, Python numbers) the rule receives first
    and that are not differentiated. The body of the function is traced with abstract values
    under transformations; the rule runs on the actual primal values.

    >>> import xform as xf, xform.numpy as xnp
    >>> @xf.custom_jvp
    ... def log1pexp(x):
    ...     return xnp.log1p(xnp.exp(x))
    >>> @log1pexp.defjvp
    ... def log1pexp_jvp(primals, tangents):
    ...     (x,), (t,) = primals, tangents
    ...     return log1pexp(x), t * (1.0 - 1.0 / (1.0 + xnp.exp(x)))
    >>> float(xf.grad(log1pexp)(0.0))
    0.5
    """

    kind = "custom_jvp"
    jvp = None

    def defjvp(self, jvp: Callable) -> Callable:
        """Set the rule `jvp(*nondiff_args, primals, tangents) -> (primal_out, tangent_out)`;
        `primals` and `tangents` are tuples of the differentiable arguments."""
        self.jvp = jvp
        self._cache.clear()
        return jvp

    def defjvps(self, *jvps: Callable | None) -> None:
        """Set the JVP rule one argument at a time: `jvps[i](t_i, primal_out, *primals)` is
        the tangent of the output due to the tangent `t_i` of argument i (None: the output
        does not depend on it); the contributions are added.

        >>> import xform as xf, xform.numpy as xnp
        >>> @xf.custom_jvp
        ... def f(x, y):
        ...     return xnp.sin(x) * y
        >>> f.defjvps(lambda t, ans, x, y: xnp.cos(x) * y * t,
        ...           lambda t, ans, x, y: xnp.sin(x) * t)
        >>> float(xf.grad(f, argnums=1)(0.0, 2.0))
        0.0
        """
        if self.nondiff_argnums:
            raise TypeError("custom_jvp.defjvps cannot be used with nondiff_argnums; use "
                            "defjvp")

        def jvp(primals, tangents):
            if len(jvps) != len(primals):
                raise TypeError(f"defjvps was given {len(jvps)} rules but the function takes "
                                f"{len(primals)} arguments")
            out = self(*primals)
            parts = [rule(t, out, *primals) for rule, t in zip(jvps, tangents)
                     if rule is not None]
            if not parts:
                return out, tree.map(lambda o: o * 0, out)
            return out, tree.map(lambda *ts: functools.reduce(lambda a, b: a + b, ts), *parts)
        self.defjvp(jvp)

    def _check_rules(self, name):
        if self.jvp is None:
            raise TypeError(f"custom_jvp function {name} has no JVP rule; define one with "
                            f"@{name}.defjvp before calling it")

    def _bind(self, consts, leaves, ir, rule, name):
        return custom_jvp_call(consts, leaves, ir=ir, jvp=rule, name=name)

    def _flat_rules(self, sig: _Signature, name: str, out_tree, out_avals) -> Rule:
        """The user's rule as `(flat primals, flat tangents) -> (flat outs, flat tangents)`."""
        fixed = list(sig.fixed)

        def flat_jvp(primals, tangents):
            result = _pair(self.jvp(*fixed, sig.dynamic_args(primals),
                                    sig.dynamic_args(tangents)),
                           f"the JVP rule of custom_jvp function {name}")
            outs = _flat_like(result[0], out_tree, out_avals,
                              f"the primal output of the JVP rule of {name}")
            t_outs = _flat_like(result[1], out_tree, out_avals,
                                f"the tangent output of the JVP rule of {name}",
                                strict_ints=False)
            # Tangents of integer outputs carry no information; keep them array-shaped.
            t_outs = [t if is_float_dtype(a.dtype) else np.zeros(a.shape, a.dtype)
                      for t, a in zip(t_outs, out_avals)]
            return outs, t_outs
        return Rule(flat_jvp, f"jvp_of_{name}")


# ----------------------------------------------------------------------------- custom_vjp

class custom_vjp(_CustomDerivative):
    """A function with user-defined reverse-mode rules: `f.defvjp(fwd, bwd)` where
    `fwd(*args) -> (out, residuals)` and `bwd(*nondiff_args, residuals, ct_out)` returns a
    tuple with one cotangent (a pytree like the argument, or None for zero) per
    differentiable argument. Forward mode (jvp, jacfwd) is an error, as the rules only
    define reverse mode.

    >>> import xform as xf, xform.numpy as xnp
    >>> @xf.custom_vjp
    ... def clip_gradient(x):
    ...     return x
    >>> clip_gradient.defvjp(lambda x: (x, None),
    ...                      lambda _, g: (xnp.clip(g, -1.0, 1.0),))
    >>> float(xf.grad(lambda x: 5.0 * clip_gradient(x))(2.0))
    1.0
    """

    kind = "custom_vjp"
    fwd = bwd = None

    def defvjp(self, fwd: Callable, bwd: Callable) -> None:
        """Set the forward rule (returning the output and residuals) and the backward rule."""
        self.fwd, self.bwd = fwd, bwd
        self._cache.clear()

    def _check_rules(self, name):
        if self.fwd is None:
            raise TypeError(f"custom_vjp function {name} has no VJP rules; define them with "
                            f"{name}.defvjp(fwd, bwd) before calling it")

    def _bind(self, consts, leaves, ir, rules, name):
        fwd, bwd = rules
        return custom_vjp_call(consts, leaves, ir=ir, fwd=fwd, bwd=bwd, name=name)

    def _flat_rules(self, sig: _Signature, name: str, out_tree, out_avals):
        """fwd: `flat args -> (flat outs, flat residuals, residual treedef)`;
        bwd: `(residual treedef, flat residuals, flat cts) -> flat cts of the args`."""
        fixed = list(sig.fixed)
        arg_trees = [tree.structure(a) for a in sig.dynamic]
        arg_avals, offset = [], 0
        for t in arg_trees:
            arg_avals.append(sig.avals[offset:offset + t.num_leaves])
            offset += t.num_leaves

        def flat_fwd(leaves):
            out, res = _pair(self.fwd(*sig.full_args(leaves)),
                             f"the fwd rule of custom_vjp function {name}")
            outs = _flat_like(out, out_tree, out_avals,
                              f"the primal output of the fwd rule of {name}")
            res_leaves, res_tree = tree.flatten(res)
            for r in res_leaves:
                if not isinstance(r, (Tracer, np.ndarray, np.generic, int, float, bool)):
                    raise TypeError(f"the fwd rule of custom_vjp function {name} returned a "
                                    f"residual of type {type(r).__name__}; residuals must "
                                    "be a pytree of arrays (pass other values through "
                                    "nondiff_argnums)")
            return outs, res_leaves, res_tree

        def flat_bwd(res_tree, res, cts):
            got = self.bwd(*fixed, tree.unflatten(res_tree, res), tree.unflatten(out_tree, cts))
            n = len(arg_trees)
            if not isinstance(got, (tuple, list)) or len(got) != n:
                desc = f"a {type(got).__name__} of length {len(got)}" \
                    if isinstance(got, (tuple, list)) else f"a {type(got).__name__}"
                raise TypeError(f"the bwd rule of custom_vjp function {name} must return a "
                                f"tuple with one cotangent per differentiable argument ({n}), "
                                f"got {desc}" + (" (return `(ct,)` for a single argument)"
                                                 if n == 1 else ""))
            flat = []
            for i, (ct, t, avals) in enumerate(zip(got, arg_trees, arg_avals)):
                if ct is None:
                    flat += [np.zeros(a.shape, a.dtype) for a in avals]
                    continue
                leaves = _flat_like(ct, t, avals, f"the cotangent {i} returned by the bwd rule "
                                    f"of {name}", strict_ints=False)
                flat += [c if is_float_dtype(a.dtype) else np.zeros(a.shape, a.dtype)
                         for c, a in zip(leaves, avals)]
            return flat
        return (Rule(flat_fwd, f"fwd_of_{name}"), Rule(flat_bwd, f"bwd_of_{name}"))


# ----------------------------------------------------------------------------- checkpoint

def _nothing_saveable(prim, *avals, **params) -> bool:
    """Save nothing: recompute every intermediate (checkpoint's default)."""
    return False


def _everything_saveable(prim, *avals, **params) -> bool:
    """Save every intermediate: as if there were no checkpoint."""
    return True


def _dots_saveable(prim, *avals, **params) -> bool:
    """Save the results of matrix products (`dot_general`), recompute the rest."""
    return prim.name == "dot_general"


def _dots_with_no_batch_dims_saveable(prim, *avals, **params) -> bool:
    """Save the results of matrix products without batch dimensions, recompute the rest."""
    return prim.name == "dot_general" and not params["dimension_numbers"][1][0]


checkpoint_policies = types.SimpleNamespace(
    nothing_saveable=_nothing_saveable,
    everything_saveable=_everything_saveable,
    dots_saveable=_dots_saveable,
    checkpoint_dots=_dots_saveable,
    dots_with_no_batch_dims_saveable=_dots_with_no_batch_dims_saveable,
    checkpoint_dots_with_no_batch_dims=_dots_with_no_batch_dims_saveable,
)
checkpoint_policies.__doc__ = (
    "Policies for `checkpoint(fun, policy=...)`, as JAX's `jax.checkpoint_policies`: each is "
    "`policy(prim, *avals, **params) -> bool`, whether the result of one equation of `fun` "
    "may be kept for the backward pass rather than recomputed.")


def checkpoint(fun: Callable, *, prevent_cse: bool = True, policy: Callable | None = None,
               static_argnums=()) -> Callable:
    """`fun`, with its intermediates recomputed in the backward pass instead of stored: reverse
    mode keeps only its inputs as residuals, trading compute for memory. Values and derivatives
    are unchanged. Arguments at `static_argnums` are passed as they are (not traced).

    `policy(prim, *avals, **params) -> bool` (see `checkpoint_policies`) names the equations
    whose results are kept after all, e.g. `checkpoint_policies.dots_saveable`; it is asked
    about the equations of `fun` itself (a loop or a nested call counts as one equation).
    `prevent_cse` is accepted for JAX compatibility (nothing here merges recomputations).

    >>> import xform as xf, xform.numpy as xnp
    >>> f = xf.checkpoint(lambda x: xnp.sin(xnp.sin(x)))
    >>> float(xf.grad(f)(0.0))
    1.0
    """
    name = _fun_name(fun)
    cache: dict = {}
    if policy is not None and not callable(policy):
        raise TypeError(f"checkpoint: policy must be callable (see xf.checkpoint_policies), "
                        f"got {policy!r}")
    rule = None if policy in (None, _nothing_saveable) else \
        Rule(policy, getattr(policy, "__name__", "policy").lstrip("_"))

    @functools.wraps(fun)
    def checkpointed(*args, **kwargs):
        args = _resolve_args(fun, args, kwargs, name)
        if is_eager():
            return fun(*args)
        sig = _Signature(args, static_argnums if isinstance(static_argnums, (tuple, list))
                         else (static_argnums,), name, "static_argnums")
        # The IR is what gets recomputed, so it must hold for every value: no specialising.
        ir, consts, out_tree, _ = _staged(cache, fun, sig, "checkpoint", name,
                                          lambda out_tree, out_avals: None, specialise=False)
        return tree.unflatten(out_tree, remat_call([*consts, *sig.leaves], ir=ir, name=name,
                                                   policy=rule))
    return checkpointed


remat = checkpoint
