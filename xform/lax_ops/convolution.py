"""lax's convolutions: `conv_general_dilated` and its conveniences, over one primitive.

Dimension numbers, string padding and the defaults are resolved here, as JAX resolves them, so
the primitive sees explicit (lo, hi) pairs and three permutations. Operands follow lax's strict
rules: one dtype (convert first, or ask for `preferred_element_type`).
"""
from __future__ import annotations

from xform.core import get_aval
from xform.lax_ops._strict import as_operand, bind
from xform.primitives import conv as cv
from xform.primitives.elementwise import convert
from xform.primitives.structural import rev, transpose

__all__ = ["ConvDimensionNumbers", "conv", "conv_dimension_numbers", "conv_general_dilated",
           "conv_transpose", "conv_with_general_padding", "padtype_to_pads"]

ConvDimensionNumbers = cv.ConvDimensionNumbers


def padtype_to_pads(in_shape, window_shape, window_strides, padding) -> list[tuple[int, int]]:
    """(lo, hi) padding per dimension for the padding 'VALID' (none), 'SAME' (outputs of
    ceil(size / stride) elements, an odd total's extra element at the end) or 'SAME_LOWER'
    (the extra element in front), as `jax.lax.padtype_to_pads`.

    >>> import xform as xf
    >>> xf.lax.padtype_to_pads((5, 6), (3, 2), (2, 1), "SAME")
    [(1, 1), (0, 1)]
    """
    kind = str(padding).upper()
    if kind not in ("VALID", "SAME", "SAME_LOWER"):
        raise ValueError(f"unknown padding {padding!r}: use 'VALID', 'SAME', 'SAME_LOWER' or a "
                         "sequence of (low, high) pairs")
    if kind == "VALID":
        return [(0, 0)] * len(in_shape)
    pads = []
    for n, k, s in zip(in_shape, window_shape, window_strides):
        total = max(0, (-(-n // s) - 1) * s + k - n)
        lo = total // 2 if kind == "SAME" else total - total // 2
        pads.append((lo, total - lo))
    return pads


def conv_dimension_numbers(lhs_shape, rhs_shape, dimension_numbers) -> ConvDimensionNumbers:
    """Dimension numbers as three permutations: None (NCHW, OIHW, NCHW order), strings such as
    ('NHWC', 'HWIO', 'NHWC') (spatial dimensions ordered as they appear in the kernel's
    string), or a ConvDimensionNumbers, as `jax.lax.conv_dimension_numbers`.

    >>> import xform as xf
    >>> xf.lax.conv_dimension_numbers((1, 5, 5, 3), (2, 2, 3, 4), ("NHWC", "HWIO", "NHWC"))
    ConvDimensionNumbers(lhs_spec=(0, 3, 1, 2), rhs_spec=(3, 2, 0, 1), out_spec=(0, 3, 1, 2))
    """
    nd = len(lhs_shape)
    if len(rhs_shape) != nd:
        raise TypeError(f"convolution needs lhs and rhs of equal rank, got shapes "
                        f"{tuple(lhs_shape)} and {tuple(rhs_shape)}")
    if dimension_numbers is None:
        return ConvDimensionNumbers(*(tuple(range(nd)),) * 3)
    if not isinstance(dimension_numbers, (tuple, list)) or len(dimension_numbers) != 3:
        raise TypeError(f"convolution dimension_numbers must be None, three strings or a "
                        f"ConvDimensionNumbers, got {dimension_numbers!r}")
    if not all(isinstance(s, str) for s in dimension_numbers):
        return ConvDimensionNumbers(*(tuple(int(d) for d in s) for s in dimension_numbers))
    return _parse_specs(dimension_numbers, nd)


def _parse_specs(strings, nd) -> ConvDimensionNumbers:
    lhs, rhs, out = strings
    roles = [("N", "C"), ("O", "I"), ("N", "C")]
    for s, (a, b) in zip(strings, roles):
        if len(s) != nd or len(set(s)) != nd or a not in s or b not in s:
            raise TypeError(f"convolution dimension_numbers {tuple(strings)}: each string "
                            f"needs {nd} distinct letters (one per dimension), among them "
                            f"'N' and 'C' for lhs and output and 'O' and 'I' for rhs")
    spatial = [c for c in rhs if c not in "OI"]
    if {c for c in lhs if c not in "NC"} != set(spatial) or \
            {c for c in out if c not in "NC"} != set(spatial):
        raise TypeError(f"convolution dimension_numbers {tuple(strings)} must name the same "
                        f"spatial dimensions in all three strings")
    return ConvDimensionNumbers(*(tuple(s.index(c) for c in (a, b, *spatial))
                                  for s, (a, b) in zip(strings, roles)))


def _ints(values, n: int, default: int, name: str) -> tuple[int, ...]:
    values = (default,) * n if values is None else tuple(int(v) for v in values)
    if len(values) != n:
        raise TypeError(f"convolution {name} {values} need one entry per spatial dimension "
                        f"({n})")
    return values


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                         batch_group_count=1, precision=None, preferred_element_type=None):
    """The general N-d convolution (cross-correlation, as in deep learning), as
    `jax.lax.conv_general_dilated`: `padding` is 'VALID', 'SAME', 'SAME_LOWER' or (lo, hi)
    pairs, `lhs_dilation` puts holes between input elements (transposed convolutions),
    `rhs_dilation` between kernel taps (atrous convolutions), `feature_group_count` splits
    the channels into groups (depthwise convolutions), `batch_group_count` the batch.
    `precision` is accepted and ignored (the CPU computes in the operands' dtype).

    >>> import numpy as np, xform as xf
    >>> x, w = np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 2))
    >>> xf.lax.conv_general_dilated(x, w, (1, 1), "VALID",
    ...                             dimension_numbers=("NHWC", "HWIO", "NHWC")).shape
    (1, 2, 2, 2)
    """
    lhs, rhs = as_operand(lhs), as_operand(rhs)
    la, ra = get_aval(lhs), get_aval(rhs)
    specs = conv_dimension_numbers(la.shape, ra.shape, dimension_numbers)
    n = la.ndim - 2
    strides = _ints(window_strides, n, 1, "window_strides")
    lhs_dilation = _ints(lhs_dilation, n, 1, "lhs_dilation")
    rhs_dilation = _ints(rhs_dilation, n, 1, "rhs_dilation")
    if isinstance(padding, str):
        if set(lhs_dilation) != {1}:
            raise ValueError("string padding is not supported with lhs_dilation (a transposed "
                             "convolution): give (lo, hi) pairs, or use lax.conv_transpose")
        kernel = [cv.dilate(ra.shape[d], r) for d, r in zip(specs.rhs_spec[2:], rhs_dilation)]
        padding = padtype_to_pads([la.shape[d] for d in specs.lhs_spec[2:]], kernel, strides,
                                  padding)
    padding = tuple((int(lo), int(hi)) for lo, hi in padding)
    if preferred_element_type is not None:
        lhs, rhs = convert(lhs, preferred_element_type), convert(rhs, preferred_element_type)
    elif la.dtype != ra.dtype:
        raise TypeError(f"lax.conv_general_dilated requires operands of one dtype, got "
                        f"{la.dtype} and {ra.dtype}; convert them first (or pass "
                        f"preferred_element_type)")
    return bind(cv.conv_general_dilated_p, lhs, rhs, window_strides=strides, padding=padding,
                lhs_dilation=lhs_dilation, rhs_dilation=rhs_dilation,
                dimension_numbers=specs, feature_group_count=int(feature_group_count),
                batch_group_count=int(batch_group_count))


def conv(lhs, rhs, window_strides, padding, precision=None, preferred_element_type=None):
    """An N-d convolution of NCHW inputs with OIHW kernels, as `jax.lax.conv`.

    >>> import numpy as np, xform as xf
    >>> xf.lax.conv(np.ones((1, 1, 4, 4)), np.ones((2, 1, 3, 3)), (1, 1), "SAME").shape
    (1, 2, 4, 4)
    """
    return conv_general_dilated(lhs, rhs, window_strides, padding, precision=precision,
                                preferred_element_type=preferred_element_type)


def conv_with_general_padding(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                              precision=None, preferred_element_type=None):
    """conv with (lo, hi) padding and dilations, as `jax.lax.conv_with_general_padding`.

    >>> import numpy as np, xform as xf
    >>> xf.lax.conv_with_general_padding(np.ones((1, 1, 4)), np.ones((1, 1, 2)), (1,),
    ...                                  [(1, 0)], (2,), (1,)).shape
    (1, 1, 7)
    """
    return conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                precision=precision,
                                preferred_element_type=preferred_element_type)


_TRANSPOSE_DEFAULTS = {2: ("NC", "IO", "NC"), 3: ("NHC", "HIO", "NHC"),
                       4: ("NHWC", "HWIO", "NHWC"), 5: ("NHWDC", "HWDIO", "NHWDC")}


def _transpose_padding(k: int, s: int, padding) -> tuple[int, int]:
    """The padding that makes a stride-`s` convolution's transpose (with a kernel spanning
    `k`) produce what keras' Conv2DTranspose produces for the forward `padding`."""
    if padding == "SAME":
        total = k + s - 2
        lo = k - 1 if s > k - 1 else -(-total // 2)
    elif padding == "VALID":
        total = k + s - 2 + max(k - s, 0)
        lo = k - 1
    else:
        lo, hi = (k - 1 - int(p) for p in padding)
        return lo, hi
    return lo, total - lo


def conv_transpose(lhs, rhs, strides, padding, rhs_dilation=None, dimension_numbers=None,
                   transpose_kernel=False, precision=None, preferred_element_type=None,
                   use_consistent_padding=False):
    """The transpose of a strided convolution (a 'deconvolution'), as `jax.lax.conv_transpose`:
    the input is dilated by `strides`; 'SAME' and 'VALID' (and (lo, hi) pairs with
    `use_consistent_padding`) name the forward convolution's padding, other pairs pad the
    dilated input directly. `transpose_kernel` flips the kernel and swaps its I and O
    dimensions, as TensorFlow does. Defaults to NHWC inputs and HWIO kernels.

    >>> import numpy as np, xform as xf
    >>> xf.lax.conv_transpose(np.ones((1, 3, 3, 1)), np.ones((2, 2, 1, 1)), (2, 2),
    ...                       "SAME").shape
    (1, 6, 6, 1)
    """
    lhs, rhs = as_operand(lhs), as_operand(rhs)
    nd = get_aval(lhs).ndim
    if dimension_numbers is None:
        if nd not in _TRANSPOSE_DEFAULTS:
            raise ValueError(f"conv_transpose has no default dimension numbers for rank {nd}; "
                             "pass dimension_numbers")
        dimension_numbers = _TRANSPOSE_DEFAULTS[nd]
    specs = conv_dimension_numbers(get_aval(lhs).shape, get_aval(rhs).shape, dimension_numbers)
    strides = _ints(strides, nd - 2, 1, "strides")
    rhs_dilation = _ints(rhs_dilation, nd - 2, 1, "rhs_dilation")
    kernel = [cv.dilate(get_aval(rhs).shape[d], r)
              for d, r in zip(specs.rhs_spec[2:], rhs_dilation)]
    if isinstance(padding, str) and padding.upper() not in ("SAME", "VALID"):
        raise ValueError(f"conv_transpose padding {padding!r}: use 'SAME', 'VALID' or a "
                         "sequence of (low, high) pairs")
    if isinstance(padding, str) or use_consistent_padding:
        per_dim = [padding.upper()] * len(strides) if isinstance(padding, str) else padding
        padding = [_transpose_padding(k, s, p) for k, s, p in zip(kernel, strides, per_dim)]
    if transpose_kernel:
        rhs = rev(rhs, specs.rhs_spec[2:])
        perm = list(range(nd))
        perm[specs.rhs_spec[0]], perm[specs.rhs_spec[1]] = specs.rhs_spec[1], specs.rhs_spec[0]
        rhs = transpose(rhs, perm)
    return conv_general_dilated(lhs, rhs, (1,) * (nd - 2), padding, strides, rhs_dilation,
                                specs, precision=precision,
                                preferred_element_type=preferred_element_type)
