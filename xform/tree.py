"""Pytrees: flatten nested containers to a list of leaves plus a hashable structure."""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable, NamedTuple

__all__ = [
    "PyTreeDef", "flatten", "unflatten", "map", "leaves", "structure", "register_node",
    "register_dataclass", "flatten_up_to", "broadcast_prefix",
]

# A treedef is a `PyTreeDef` wrapping a nested "node":
#   * a leaf is the sentinel `_LEAF` (which is `None`, chosen so leaf checks are cheap);
#   * an internal node is a plain tuple `(node_type, aux_data, child_nodes)`.
# Plain tuples give structural `==` and `hash` for free and cost one allocation per node.
# `node_type` is `tuple`, `list`, `dict` (aux = sorted keys), `NoneType`, a namedtuple class
# (aux = None) or a registered class (aux = whatever its flatten function returned).

_LEAF = None
_NoneType = type(None)
_NONE_NODE = (_NoneType, None, ())


class _NodeKind(NamedTuple):
    flatten: Callable[[Any], tuple[Iterable[Any], Any]]
    unflatten: Callable[[Any, Iterable[Any]], Any]


_registry: dict[type, _NodeKind] = {}
_BUILTIN_NODE_TYPES = (tuple, list, dict, _NoneType)


def _sorted_keys(d: dict) -> list:
    try:
        return sorted(d)
    except TypeError:
        raise TypeError(f"pytree dict keys must be mutually sortable, got keys {list(d)!r}") \
            from None


# ----------------------------------------------------------------------------- PyTreeDef

class PyTreeDef:
    """The structure of a pytree: hashable, comparable with `==`, and knows its leaf count."""

    __slots__ = ("_node", "num_leaves", "_hash")

    def __init__(self, node: Any, num_leaves: int):
        self._node = node
        self.num_leaves = num_leaves
        self._hash = None

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, PyTreeDef):
            return NotImplemented
        return self.num_leaves == other.num_leaves and self._node == other._node

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            h = self._hash = hash(self._node)
        return h

    def __repr__(self) -> str:
        return f"PyTreeDef({_node_repr(self._node)})"

    def unflatten(self, leaves: Iterable[Any]) -> Any:
        """Rebuild a tree of this structure from `leaves` (same as `unflatten(self, leaves)`)."""
        return unflatten(self, leaves)


def _node_repr(node: Any) -> str:
    if node is _LEAF:
        return "*"
    t, aux, children = node
    parts = [_node_repr(c) for c in children]
    if t is tuple:
        return f"({parts[0]},)" if len(parts) == 1 else f"({', '.join(parts)})"
    if t is list:
        return f"[{', '.join(parts)}]"
    if t is dict:
        return "{" + ", ".join(f"{k!r}: {p}" for k, p in zip(aux, parts)) + "}"
    if t is _NoneType:
        return "None"
    if t not in _registry:  # namedtuple
        fields = ", ".join(f"{f}={p}" for f, p in zip(t._fields, parts))
        return f"{t.__name__}({fields})"
    return f"CustomNode({t.__name__}[{aux!r}], [{', '.join(parts)}])"


# ----------------------------------------------------------------------------- flatten

def _flatten(x: Any, out: list, is_leaf: Callable[[Any], bool] | None) -> Any:
    if is_leaf is not None and is_leaf(x):
        out.append(x)
        return _LEAF
    t = type(x)
    if t is tuple:
        return (tuple, None, tuple([_flatten(c, out, is_leaf) for c in x]))
    if t is list:
        return (list, None, tuple([_flatten(c, out, is_leaf) for c in x]))
    if t is dict:
        keys = _sorted_keys(x)
        return (dict, tuple(keys), tuple([_flatten(x[k], out, is_leaf) for k in keys]))
    if x is None:
        return _NONE_NODE
    kind = _registry.get(t)
    if kind is not None:
        children, aux = kind.flatten(x)
        return (t, aux, tuple([_flatten(c, out, is_leaf) for c in children]))
    if isinstance(x, tuple) and hasattr(t, "_fields"):
        return (t, None, tuple([_flatten(c, out, is_leaf) for c in x]))
    out.append(x)
    return _LEAF


def flatten(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> tuple[list, PyTreeDef]:
    """Flatten `tree` into a list of leaves and a `PyTreeDef` describing its structure.

    Dict children are ordered by sorted key; `None` is an empty node, not a leaf. `is_leaf`, if
    given, is called on every subtree first and stops descending where it returns true.

    >>> flatten((1, [2, 3], {"b": 5, "a": 4}, None))
    ([1, 2, 3, 4, 5], PyTreeDef((*, [*, *], {'a': *, 'b': *}, None)))
    """
    out: list = []
    node = _flatten(tree, out, is_leaf)
    return out, PyTreeDef(node, len(out))


# ----------------------------------------------------------------------------- unflatten

def _unflatten(node: Any, it: Any) -> Any:
    if node is _LEAF:
        return next(it)
    t, aux, children = node
    if t is tuple:
        return tuple([_unflatten(c, it) for c in children])
    if t is list:
        return [_unflatten(c, it) for c in children]
    if t is dict:
        return dict(zip(aux, [_unflatten(c, it) for c in children]))
    if t is _NoneType:
        return None
    kind = _registry.get(t)
    if kind is None:  # namedtuple
        return t(*[_unflatten(c, it) for c in children])
    return kind.unflatten(aux, [_unflatten(c, it) for c in children])


def unflatten(treedef: PyTreeDef, leaves: Iterable[Any]) -> Any:
    """Rebuild a tree with structure `treedef` from a sequence of leaves.

    >>> leaves, treedef = flatten({"x": (1, 2), "y": None})
    >>> unflatten(treedef, [10, 20])
    {'x': (10, 20), 'y': None}
    """
    if not isinstance(treedef, PyTreeDef):
        raise TypeError(f"unflatten expects a PyTreeDef, got {type(treedef).__name__}")
    if not isinstance(leaves, (list, tuple)):
        leaves = list(leaves)
    if len(leaves) != treedef.num_leaves:
        raise ValueError(f"unflatten: {treedef} expects {treedef.num_leaves} leaves, "
                         f"got {len(leaves)}")
    node = treedef._node
    if node is _LEAF:
        return leaves[0]
    return _unflatten(node, iter(leaves))


# ----------------------------------------------------------------------------- conveniences

def leaves(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> list:
    """Return the leaves of `tree` in flatten order.

    >>> leaves([1, (2, None), {"a": 3}])
    [1, 2, 3]
    """
    out: list = []
    _flatten(tree, out, is_leaf)
    return out


def structure(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> PyTreeDef:
    """Return the `PyTreeDef` of `tree`.

    >>> structure((1, [2, 3]))
    PyTreeDef((*, [*, *]))
    """
    return flatten(tree, is_leaf)[1]


def map(f: Callable[..., Any], tree: Any, *rest: Any,
        is_leaf: Callable[[Any], bool] | None = None) -> Any:
    """Apply `f` leaf-wise to `tree` and the trees in `rest`, which must share its structure.

    >>> map(lambda x, y: x + y, (1, [2]), (10, [20]))
    (11, [22])
    """
    flat, treedef = flatten(tree, is_leaf)
    if not rest:
        return unflatten(treedef, [f(x) for x in flat])
    all_flat = [flat]
    for i, other in enumerate(rest, 1):
        other_flat, other_def = flatten(other, is_leaf)
        if other_def != treedef:
            raise ValueError(f"map: argument {i} has a different tree structure than "
                             f"argument 0: {other_def} vs {treedef}")
        all_flat.append(other_flat)
    return unflatten(treedef, [f(*xs) for xs in zip(*all_flat)])


# ----------------------------------------------------------------------------- registration

def register_node(cls: type, flatten: Callable[[Any], tuple[Iterable[Any], Any]],
                  unflatten: Callable[[Any, Iterable[Any]], Any]) -> type:
    """Register `cls` as a pytree node type.

    `flatten(obj) -> (children, aux_data)`; `unflatten(aux_data, children) -> obj`. `aux_data`
    becomes part of the treedef, so it must be hashable and comparable with `==`.

    >>> class Pair:
    ...     def __init__(self, a, b):
    ...         self.a, self.b = a, b
    >>> _ = register_node(Pair, lambda p: ((p.a, p.b), None), lambda _, c: Pair(*c))
    >>> leaves(Pair(1, (2, 3)))
    [1, 2, 3]
    """
    if not isinstance(cls, type):
        raise TypeError(f"register_node expects a class, got {cls!r}")
    if cls in _BUILTIN_NODE_TYPES:
        raise ValueError(f"{cls.__name__} is a built-in pytree node type and cannot be "
                         "re-registered")
    if cls in _registry:
        raise ValueError(f"{cls.__qualname__} is already registered as a pytree node")
    _registry[cls] = _NodeKind(flatten, unflatten)
    return cls


def register_dataclass(cls: type | None = None, *,
                       meta_fields: Iterable[str] = ()) -> Any:
    """Register a dataclass as a pytree node; usable bare, with arguments, or called directly.

    Every field is a child except those named in `meta_fields`, whose values become part of
    the treedef (so they must be hashable). Rebuilding does not call `__init__`.

    >>> @register_dataclass(meta_fields=("n",))
    ... @dataclasses.dataclass
    ... class Point:
    ...     x: Any
    ...     y: Any
    ...     n: int = 0
    >>> flatten(Point(1, 2, n=3))
    ([1, 2], PyTreeDef(CustomNode(Point[(3,)], [*, *])))
    """
    if isinstance(meta_fields, str):
        meta_fields = (meta_fields,)
    meta = tuple(meta_fields)

    def register(c: type) -> type:
        if not (isinstance(c, type) and dataclasses.is_dataclass(c)):
            raise TypeError(f"register_dataclass expects a dataclass, got {c!r}")
        names = [f.name for f in dataclasses.fields(c)]
        unknown = [m for m in meta if m not in names]
        if unknown:
            raise ValueError(f"register_dataclass: {c.__qualname__} has no fields {unknown}")
        data = tuple(n for n in names if n not in meta)
        setter = object.__setattr__

        def flatten_dc(obj: Any) -> tuple[list, tuple]:
            return [getattr(obj, n) for n in data], tuple([getattr(obj, n) for n in meta])

        def unflatten_dc(aux: tuple, children: Iterable[Any]) -> Any:
            obj = object.__new__(c)
            for n, v in zip(meta, aux):
                setter(obj, n, v)
            for n, v in zip(data, children):
                setter(obj, n, v)
            return obj

        return register_node(c, flatten_dc, unflatten_dc)

    if cls is None:
        return register
    return register(cls)


# ----------------------------------------------------------------------------- prefixes

class _PrefixMismatch(Exception):
    def __init__(self, expected: str, got: Any):
        super().__init__()
        self.expected = expected
        self.got = got
        self.path: list[str] = []


def _flatten_up_to(node: Any, x: Any, out: list) -> None:
    if node is _LEAF:
        out.append(x)
        return
    t, aux, children = node
    if t is _NoneType:
        if x is not None:
            raise _PrefixMismatch("None", x)
        return
    if t is dict:
        if type(x) is not dict:
            raise _PrefixMismatch("a dict", x)
        if tuple(_sorted_keys(x)) != aux:
            raise _PrefixMismatch(f"a dict with keys {list(aux)}", x)
        subtrees, keys = [x[k] for k in aux], [f"[{k!r}]" for k in aux]
    else:
        kind = _registry.get(t) if t is not tuple and t is not list else None
        if type(x) is not t:
            raise _PrefixMismatch(f"a {t.__name__} of length {len(children)}"
                                  if kind is None else f"a {t.__name__}", x)
        if kind is None:
            subtrees = x
        else:
            subtrees, x_aux = kind.flatten(x)
            subtrees = list(subtrees)
            if x_aux != aux:
                raise _PrefixMismatch(f"a {t.__name__} with aux data {aux!r}", x)
        if len(subtrees) != len(children):
            raise _PrefixMismatch(f"a {t.__name__} with {len(children)} children", x)
        keys = [f"[{i}]" for i in range(len(children))]
    for key, child, sub in zip(keys, children, subtrees):
        try:
            _flatten_up_to(child, sub, out)
        except _PrefixMismatch as e:
            e.path.append(key)
            raise


def flatten_up_to(prefix_treedef: PyTreeDef, tree: Any) -> list:
    """Return the subtrees of `tree` found at the leaves of the prefix structure.

    >>> flatten_up_to(structure((0, 0)), ([1, 2], {"a": 3}))
    [[1, 2], {'a': 3}]
    """
    out: list = []
    try:
        _flatten_up_to(prefix_treedef._node, tree, out)
    except _PrefixMismatch as e:
        path = "".join(reversed(e.path)) or "<root>"
        got = e.got
        got_desc = (f"a {type(got).__name__} of length {len(got)}"
                    if type(got) in (tuple, list) else f"{type(got).__name__} {got!r}")
        if len(got_desc) > 200:
            got_desc = got_desc[:200] + "..."
        try:
            full = str(structure(tree))
        except Exception:  # pragma: no cover - e.g. unsortable dict keys
            full = f"<{type(tree).__name__}>"
        raise ValueError(f"tree does not match prefix structure {prefix_treedef} at {path}: "
                         f"expected {e.expected}, got {got_desc}; full tree structure is "
                         f"{full}") from None
    return out


def broadcast_prefix(prefix_tree: Any, full_tree: Any,
                     is_leaf: Callable[[Any], bool] | None = None) -> list:
    """For each leaf of `full_tree`, return the leaf of `prefix_tree` that covers it.

    `None` in `prefix_tree` is always a leaf (e.g. "unbatched" in `in_axes`); `is_leaf` applies
    to `prefix_tree` as well.

    >>> broadcast_prefix((0, None), ([1, 2], {"a": 3, "b": 4}))
    [0, 0, None, None]
    """
    if is_leaf is None:
        def prefix_is_leaf(x: Any) -> bool:
            return x is None
    else:
        def prefix_is_leaf(x: Any) -> bool:
            return x is None or is_leaf(x)
    prefix_flat, prefix_def = flatten(prefix_tree, prefix_is_leaf)
    subtrees = flatten_up_to(prefix_def, full_tree)
    out: list = []
    for p, sub in zip(prefix_flat, subtrees):
        n = len(leaves(sub))
        if n == 1:
            out.append(p)
        elif n:
            out.extend([p] * n)
    return out
