"""Structural primitives: broadcast, reshape, transpose, reverse, slice, pad, concatenate."""
from __future__ import annotations

import math

import numpy as np

from xform.core import Primitive, ShapedArray, UndefinedPrimal, Zero, batch_size, get_aval
from xform.primitives.lowering import BROADCAST, Indexed, permuted


def _linear_jvp(p: Primitive):
    """JVP for primitives linear in their (single differentiable) first operand."""
    def jvp(primals, tangents, **params):
        out = p.bind1(*primals, **params)
        t = tangents[0]
        if isinstance(t, Zero):
            return [out], [Zero(get_aval(out))]
        return [out], [p.bind1(t, *primals[1:], **params)]
    p.jvp = jvp
    return p


# ----------------------------------------------------------------------------- broadcast_in_dim

broadcast_in_dim_p = Primitive("broadcast_in_dim")


def broadcast_in_dim(x, shape, broadcast_dimensions):
    """Broadcast `x` to `shape`, operand dimension i landing on `broadcast_dimensions[i]`."""
    shape, broadcast_dimensions = tuple(shape), tuple(broadcast_dimensions)
    if np.shape(x) == shape and broadcast_dimensions == tuple(range(len(shape))):
        return x
    return broadcast_in_dim_p.bind1(x, shape=shape, broadcast_dimensions=broadcast_dimensions)


def _broadcast_in_dim_impl(x, *, shape, broadcast_dimensions):
    x = np.asarray(x)
    expanded = [1] * len(shape)
    for i, d in enumerate(broadcast_dimensions):
        expanded[d] = x.shape[i]
    return [np.broadcast_to(x.reshape(expanded), shape)]


def _broadcast_in_dim_abstract_eval(x, *, shape, broadcast_dimensions):
    if len(broadcast_dimensions) != x.ndim or any(
            x.shape[i] not in (1, shape[d]) for i, d in enumerate(broadcast_dimensions)):
        raise TypeError(f"cannot broadcast {x} to shape {shape} along "
                        f"dimensions {broadcast_dimensions}")
    return [ShapedArray(shape, x.dtype)]


def _broadcast_in_dim_transpose(cts, x, *, shape, broadcast_dimensions):
    from xform.primitives.reductions import reduce_sum
    (ct,) = cts
    # Sum over the new dimensions and the ones that were stretched from size 1.
    new_dims = [d for d in range(len(shape)) if d not in broadcast_dimensions]
    stretched = [d for i, d in enumerate(broadcast_dimensions)
                 if x.aval.shape[i] == 1 and shape[d] != 1]
    summed = reduce_sum(ct, tuple(sorted(new_dims + stretched)))
    return [reshape(summed, x.aval.shape)]


def _broadcast_in_dim_vmap(args, bdims, *, shape, broadcast_dimensions):
    (x,), (d,) = args, bdims
    x = moveaxis(x, d, 0)
    size = np.shape(x)[0]
    dims = (0, *(b + 1 for b in broadcast_dimensions))
    return [broadcast_in_dim(x, (size, *shape), dims)], [0]


broadcast_in_dim_p.impl = _broadcast_in_dim_impl
broadcast_in_dim_p.abstract_eval = _broadcast_in_dim_abstract_eval
broadcast_in_dim_p.transpose = _broadcast_in_dim_transpose
broadcast_in_dim_p.vmap = _broadcast_in_dim_vmap
_linear_jvp(broadcast_in_dim_p)

# ----------------------------------------------------------------------------- reshape

reshape_p = Primitive("reshape")


def reshape(x, new_shape):
    new_shape = tuple(int(d) for d in new_shape)
    if np.shape(x) == new_shape:
        return x
    return reshape_p.bind1(x, new_shape=new_shape)


def _reshape_abstract_eval(x, *, new_shape):
    if math.prod(new_shape) != x.size:
        raise TypeError(f"cannot reshape {x} (size {x.size}) into shape {new_shape}")
    return [ShapedArray(new_shape, x.dtype)]


def _reshape_vmap(args, bdims, *, new_shape):
    x = moveaxis(args[0], bdims[0], 0)
    return [reshape(x, (np.shape(x)[0], *new_shape))], [0]


reshape_p.impl = lambda x, *, new_shape: [np.reshape(x, new_shape)]
reshape_p.abstract_eval = _reshape_abstract_eval
reshape_p.transpose = lambda cts, x, *, new_shape: [reshape(cts[0], x.aval.shape)]
reshape_p.vmap = _reshape_vmap
_linear_jvp(reshape_p)

# ----------------------------------------------------------------------------- transpose

transpose_p = Primitive("transpose")


def transpose(x, permutation):
    permutation = tuple(int(p) for p in permutation)
    if permutation == tuple(range(len(permutation))):
        return x
    return transpose_p.bind1(x, permutation=permutation)


def moveaxis(x, source: int, destination: int):
    """Move one axis of `x`; used by batching rules to put the batch dimension where needed."""
    ndim = np.ndim(x)
    source, destination = source % ndim, destination % ndim
    if source == destination:
        return x
    perm = [i for i in range(ndim) if i != source]
    perm.insert(destination, source)
    return transpose(x, perm)


def _transpose_abstract_eval(x, *, permutation):
    if sorted(permutation) != list(range(x.ndim)):
        raise TypeError(f"transpose permutation {permutation} does not fit {x}")
    return [ShapedArray([x.shape[p] for p in permutation], x.dtype)]


def _transpose_transpose(cts, x, *, permutation):
    return [transpose(cts[0], np.argsort(permutation))]


def _transpose_vmap(args, bdims, *, permutation):
    x = moveaxis(args[0], bdims[0], 0)
    return [transpose(x, (0, *(p + 1 for p in permutation)))], [0]


transpose_p.impl = lambda x, *, permutation: [np.transpose(x, permutation)]
transpose_p.abstract_eval = _transpose_abstract_eval
transpose_p.transpose = _transpose_transpose
transpose_p.vmap = _transpose_vmap
_linear_jvp(transpose_p)

# ----------------------------------------------------------------------------- rev

rev_p = Primitive("rev")


def rev(x, dimensions):
    dimensions = tuple(sorted(int(d) for d in dimensions))
    return rev_p.bind1(x, dimensions=dimensions) if dimensions else x


def _rev_vmap(args, bdims, *, dimensions):
    x = moveaxis(args[0], bdims[0], 0)
    return [rev(x, tuple(d + 1 for d in dimensions))], [0]


rev_p.impl = lambda x, *, dimensions: [np.flip(x, dimensions)]
rev_p.abstract_eval = lambda x, *, dimensions: [x]
rev_p.transpose = lambda cts, x, *, dimensions: [rev(cts[0], dimensions)]
rev_p.vmap = _rev_vmap
_linear_jvp(rev_p)

# ----------------------------------------------------------------------------- slice

slice_p = Primitive("slice")


def slice_(x, start, limit, strides=None):
    """x[start:limit:strides] along every dimension (static bounds, positive strides)."""
    start, limit = tuple(int(s) for s in start), tuple(int(s) for s in limit)
    strides = tuple(int(s) for s in strides) if strides is not None else (1,) * len(start)
    if start == (0,) * len(start) and limit == np.shape(x) and set(strides) <= {1}:
        return x
    return slice_p.bind1(x, start=start, limit=limit, strides=strides)


def _slice_impl(x, *, start, limit, strides):
    return [np.asarray(x)[tuple(slice(a, b, s) for a, b, s in zip(start, limit, strides))]]


def _slice_abstract_eval(x, *, start, limit, strides):
    if not (len(start) == len(limit) == len(strides) == x.ndim) or any(
            not 0 <= a <= b <= n or s < 1
            for a, b, s, n in zip(start, limit, strides, x.shape)):
        raise TypeError(f"slice {start}:{limit}:{strides} does not fit {x}")
    shape = [max(0, -(-(b - a) // s)) for a, b, s in zip(start, limit, strides)]
    return [ShapedArray(shape, x.dtype)]


def _slice_transpose(cts, x, *, start, limit, strides):
    (ct,) = cts
    shape = x.aval.shape
    out_shape = get_aval(ct).shape
    lo = start
    interior = tuple(s - 1 for s in strides)
    hi = tuple(n - (a + (m - 1) * s + 1) if m else n - a
               for n, a, m, s in zip(shape, start, out_shape, strides))
    return [pad(ct, np.zeros((), x.aval.dtype), lo, hi, interior)]


def _slice_vmap(args, bdims, *, start, limit, strides):
    x = moveaxis(args[0], bdims[0], 0)
    n = np.shape(x)[0]
    return [slice_(x, (0, *start), (n, *limit), (1, *strides))], [0]


slice_p.impl = _slice_impl
slice_p.abstract_eval = _slice_abstract_eval
slice_p.transpose = _slice_transpose
slice_p.vmap = _slice_vmap
_linear_jvp(slice_p)

# ----------------------------------------------------------------------------- pad

pad_p = Primitive("pad")


def pad(x, value, lo, hi, interior=None):
    """Pad with a scalar `value`: `lo`/`hi` elements at each end (negative crops), `interior`
    elements between neighbours."""
    lo, hi = tuple(int(v) for v in lo), tuple(int(v) for v in hi)
    interior = tuple(int(v) for v in interior) if interior is not None else (0,) * len(lo)
    return pad_p.bind1(x, value, lo=lo, hi=hi, interior=interior)


def _pad_shape(shape, lo, hi, interior):
    return [lo_ + hi_ + n + max(0, n - 1) * i for n, lo_, hi_, i in zip(shape, lo, hi, interior)]


def _pad_impl(x, value, *, lo, hi, interior):
    x = np.asarray(x)
    full_lo = [max(0, v) for v in lo]
    full_hi = [max(0, v) for v in hi]
    shape = _pad_shape(x.shape, full_lo, full_hi, interior)
    out = np.full(shape, value, dtype=x.dtype)
    out[tuple(slice(a, a + (n - 1) * (i + 1) + 1 if n else a, i + 1)
              for a, n, i in zip(full_lo, x.shape, interior))] = x
    crop = tuple(slice(-min(0, a), s - (-min(0, b))) for a, b, s in zip(lo, hi, shape))
    return [out[crop]]


def _pad_abstract_eval(x, value, *, lo, hi, interior):
    if value.shape != () or value.dtype != x.dtype:
        raise TypeError(f"pad needs a scalar padding value of dtype {x.dtype}, got {value}")
    if not (len(lo) == len(hi) == len(interior) == x.ndim) or min(interior, default=0) < 0:
        raise TypeError(f"padding config lo={lo} hi={hi} interior={interior} does not fit {x}")
    shape = _pad_shape(x.shape, lo, hi, interior)
    if min(shape, default=0) < 0:
        raise TypeError(f"padding lo={lo} hi={hi} crops {x} below size zero")
    return [ShapedArray(shape, x.dtype)]


def _pad_jvp(primals, tangents, *, lo, hi, interior):
    (x, v), (tx, tv) = primals, tangents
    out = pad(x, v, lo, hi, interior)
    if isinstance(tx, Zero) and isinstance(tv, Zero):
        return [out], [Zero(get_aval(out))]
    aval = get_aval(x)
    tx = np.zeros(aval.shape, aval.dtype) if isinstance(tx, Zero) else tx
    tv = np.zeros((), aval.dtype) if isinstance(tv, Zero) else tv
    return [out], [pad(tx, tv, lo, hi, interior)]


def _pad_transpose(cts, x, value, *, lo, hi, interior):
    from xform.primitives.reductions import reduce_sum
    (ct,) = cts
    ct_x = ct_v = None
    if isinstance(x, UndefinedPrimal):
        # Undo the padding: crop the (possibly negative) edges, then drop interior elements.
        unpadded = pad(ct, np.zeros((), x.aval.dtype), tuple(-v for v in lo),
                       tuple(-v for v in hi))
        ct_x = slice_(unpadded, (0,) * len(lo), np.shape(unpadded),
                      tuple(i + 1 for i in interior))
    if isinstance(value, UndefinedPrimal):
        aval = get_aval(ct)
        from xform.primitives.elementwise import select
        mask = pad(np.zeros(get_aval(x).shape if not isinstance(x, UndefinedPrimal)
                            else x.aval.shape, np.bool_), np.ones((), np.bool_), lo, hi,
                   interior)
        ct_v = reduce_sum(select(mask, ct, np.zeros(aval.shape, aval.dtype)),
                          tuple(range(aval.ndim)))
    return [ct_x, ct_v]


def _pad_vmap(args, bdims, *, lo, hi, interior):
    (x, v), (dx, dv) = args, bdims
    if dv is None:
        x = moveaxis(x, dx, 0)
        return [pad(x, v, (0, *lo), (0, *hi), (0, *interior))], [0]
    # A padding value per batch member: pad with zeros, then fill the padded positions (a
    # concrete mask, the same for every member) with each member's value.
    from xform.primitives.elementwise import select
    size = np.shape(v)[dv]
    aval = get_aval(x)
    if dx is None:
        x = broadcast_in_dim(x, (size, *aval.shape), tuple(range(1, aval.ndim + 1)))
    else:
        x = moveaxis(x, dx, 0)
    shape = get_aval(x).shape[1:]
    padded = pad(x, np.zeros((), aval.dtype), (0, *lo), (0, *hi), (0, *interior))
    out_shape = get_aval(padded).shape
    mask = pad(np.zeros(shape, np.bool_), np.ones((), np.bool_), lo, hi, interior)
    mask = broadcast_in_dim(mask, out_shape, tuple(range(1, len(out_shape))))
    return [select(mask, broadcast_in_dim(v, out_shape, (0,)), padded)], [0]


pad_p.impl = _pad_impl
pad_p.abstract_eval = _pad_abstract_eval
pad_p.jvp = _pad_jvp
pad_p.transpose = _pad_transpose
pad_p.vmap = _pad_vmap

# ----------------------------------------------------------------------------- concatenate

concatenate_p = Primitive("concatenate")


def concatenate(xs, dimension: int):
    xs = list(xs)
    if len(xs) == 1:
        return xs[0]
    return concatenate_p.bind1(*xs, dimension=int(dimension))


def _concatenate_abstract_eval(*xs, dimension):
    first = xs[0]
    for x in xs[1:]:
        if (x.dtype != first.dtype or x.ndim != first.ndim or any(
                a != b for i, (a, b) in enumerate(zip(x.shape, first.shape)) if i != dimension)):
            raise TypeError(f"cannot concatenate {', '.join(map(str, xs))} along axis "
                            f"{dimension}: the other dimensions and dtypes must match")
    shape = list(first.shape)
    shape[dimension] = sum(x.shape[dimension] for x in xs)
    return [ShapedArray(shape, first.dtype)]


def _concatenate_jvp(primals, tangents, *, dimension):
    out = concatenate(primals, dimension)
    if all(isinstance(t, Zero) for t in tangents):
        return [out], [Zero(get_aval(out))]
    ts = [np.zeros(t.aval.shape, t.aval.dtype) if isinstance(t, Zero) else t for t in tangents]
    return [out], [concatenate(ts, dimension)]


def _concatenate_transpose(cts, *xs, dimension):
    (ct,) = cts
    shape = get_aval(ct).shape
    outs, offset = [], 0
    for x in xs:
        n = (x.aval if isinstance(x, UndefinedPrimal) else get_aval(x)).shape[dimension]
        if isinstance(x, UndefinedPrimal):
            start = [0] * len(shape)
            limit = list(shape)
            start[dimension], limit[dimension] = offset, offset + n
            outs.append(slice_(ct, start, limit))
        else:
            outs.append(None)
        offset += n
    return outs


def _concatenate_vmap(args, bdims, *, dimension):
    size = batch_size(args, bdims)
    aligned = []
    for a, d in zip(args, bdims):
        if d is None:
            shape = get_aval(a).shape
            aligned.append(broadcast_in_dim(a, (size, *shape), tuple(range(1, len(shape) + 1))))
        else:
            aligned.append(moveaxis(a, d, 0))
    return [concatenate(aligned, dimension + 1)], [0]


concatenate_p.impl = lambda *xs, dimension: [np.concatenate(xs, axis=dimension)]
concatenate_p.abstract_eval = _concatenate_abstract_eval
concatenate_p.jvp = _concatenate_jvp
concatenate_p.transpose = _concatenate_transpose
concatenate_p.vmap = _concatenate_vmap

# ----------------------------------------------------------------------------- Numba lowerings


def _index(dims):
    return ", ".join(dims) if len(dims) != 1 else dims[0] + ","


def _reshape_numba(em, ins, outs, *, new_shape):
    (x,), (o,) = ins, outs
    if o.aval.shape == ():
        em.line(f"{o.expr} = {x.expr}.ravel()[0]")
    elif x.aval.shape == ():
        em.line(f"{o.expr} = np.full({tuple(new_shape)!r}, {x.expr})")
    else:
        em.line(f"{o.expr} = np.ascontiguousarray({x.expr}).reshape({tuple(new_shape)!r})")


def _transpose_numba(em, ins, outs, *, permutation):
    em.line(f"{outs[0].expr} = {permuted(ins[0].expr, permutation)}")


def _rev_numba(em, ins, outs, *, dimensions):
    (x,), (o,) = ins, outs
    index = _index(["::-1" if d in dimensions else ":" for d in range(x.aval.ndim)])
    em.line(f"{o.expr} = {x.expr}[{index}]")


def _slice_numba(em, ins, outs, *, start, limit, strides):
    index = _index([f"{a}:{b}:{s}" for a, b, s in zip(start, limit, strides)])
    em.line(f"{outs[0].expr} = {ins[0].expr}[{index}]")


def _pad_numba(em, ins, outs, *, lo, hi, interior):
    (x, value), (o,) = ins, outs
    full_lo, full_hi = [max(0, v) for v in lo], [max(0, v) for v in hi]
    shape = tuple(_pad_shape(x.aval.shape, full_lo, full_hi, interior))
    place = _index([f"{a}:{a + (n - 1) * (i + 1) + 1 if n else a}:{i + 1}"
                    for a, n, i in zip(full_lo, x.aval.shape, interior)])
    crop = _index([f"{-min(0, a)}:{s + min(0, b)}" for a, b, s in zip(lo, hi, shape)])
    em.line(f"{o.expr} = np.full({shape!r}, {value.expr})")
    em.line(f"{o.expr}[{place}] = {x.expr}")
    em.line(f"{o.expr} = {o.expr}[{crop}]")


def _pad_element(ops, avals, index, *, lo, hi, interior):
    """The element of a padded array at `index`, in the loop consuming it: the operand's
    element where one lands there, else the padding value (no padded copy is made)."""
    (x, value), (aval, _) = ops, avals
    if 0 in aval.shape:
        return None
    at, inside = [], []
    for i, n, a, b, s in zip(index, aval.shape, lo, hi, interior):
        step, last = s + 1, a + (n - 1) * (s + 1)  # where the operand's first and last land
        j = i if a == 0 else f"{i} - {a}" if a > 0 else f"{i} + {-a}"
        inside += [f"{i} >= {a}"] * (a > 0) + [f"{i} <= {last}"] * (b > 0)
        inside += [f"({j}) % {step} == 0"] * (step > 1)
        at.append(f"({j}) // {step}" if step > 1 else j)
    read = f"{x}[{_index(at)}]" if at else x
    return f"({read} if {' and '.join(inside)} else {value})" if inside else read


def _concatenate_numba(em, ins, outs, *, dimension):
    parts = "".join(f"{x.expr}, " for x in ins)
    em.line(f"{outs[0].expr} = np.concatenate(({parts}), axis={dimension})")


broadcast_in_dim_p.numba = BROADCAST
reshape_p.numba = _reshape_numba
transpose_p.numba = _transpose_numba
rev_p.numba = _rev_numba
slice_p.numba = _slice_numba
pad_p.numba = Indexed(_pad_element, _pad_numba)
concatenate_p.numba = _concatenate_numba
