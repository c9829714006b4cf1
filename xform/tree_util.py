"""JAX's `jax.tree_util` names for the pytree functions of `xform.tree`, plus `Partial`.

Code written against `jax.tree_util` ports by changing the import; `xform.tree` is the native
spelling (`xf.tree.map`, `xf.tree.flatten`, ...) and both work on the same registry.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from xform import tree
from xform.tree import PyTreeDef, register_dataclass  # noqa: F401 (re-exported)

__all__ = [
    "Partial", "PyTreeDef", "all_leaves", "register_dataclass", "register_pytree_node",
    "register_pytree_node_class", "tree_all", "tree_flatten", "tree_leaves", "tree_map",
    "tree_reduce", "tree_structure", "tree_transpose", "tree_unflatten", "treedef_is_leaf",
]

tree_flatten = tree.flatten
tree_unflatten = tree.unflatten
tree_leaves = tree.leaves
tree_structure = tree.structure
tree_map = tree.map


def register_pytree_node(nodetype: type, flatten_func: Callable, unflatten_func: Callable,
                         flatten_with_keys_func: Callable | None = None) -> None:
    """Register `nodetype` as a pytree node: `flatten_func(obj) -> (children, aux_data)`,
    `unflatten_func(aux_data, children) -> obj` (`flatten_with_keys_func` is not used)."""
    tree.register_node(nodetype, flatten_func, unflatten_func)


def register_pytree_node_class(cls: type) -> type:
    """Class decorator registering `cls` through its `tree_flatten(self)` method and
    `tree_unflatten(cls, aux_data, children)` classmethod.

    >>> @register_pytree_node_class
    ... class Box:
    ...     def __init__(self, v):
    ...         self.v = v
    ...     def tree_flatten(self):
    ...         return (self.v,), None
    ...     @classmethod
    ...     def tree_unflatten(cls, aux, children):
    ...         return cls(*children)
    >>> tree_leaves([Box(1), Box((2, 3))])
    [1, 2, 3]
    """
    tree.register_node(cls, lambda obj: obj.tree_flatten(), cls.tree_unflatten)
    return cls


_NO_INITIALIZER = object()


def tree_reduce(function: Callable, tree_: Any, initializer: Any = _NO_INITIALIZER,
                is_leaf: Callable | None = None) -> Any:
    """`functools.reduce(function, leaves)` over the leaves of the tree.

    >>> tree_reduce(lambda a, b: a + b, {"x": 1, "y": (2, 3)})
    6
    """
    leaves = tree.leaves(tree_, is_leaf)
    if initializer is _NO_INITIALIZER:
        return functools.reduce(function, leaves)
    return functools.reduce(function, leaves, initializer)


def tree_all(tree_: Any, *, is_leaf: Callable | None = None) -> bool:
    """Whether every leaf is true.

    >>> tree_all([True, (1, None)])
    True
    """
    return all(tree.leaves(tree_, is_leaf))


def all_leaves(iterable, is_leaf: Callable | None = None) -> bool:
    """Whether every element of `iterable` is a leaf."""
    return all(treedef_is_leaf(tree.structure(x, is_leaf)) for x in iterable)


def treedef_is_leaf(treedef: PyTreeDef) -> bool:
    """Whether `treedef` is the structure of a single leaf."""
    return treedef == tree.structure(0)


def tree_transpose(outer_treedef: PyTreeDef, inner_treedef: PyTreeDef, pytree_to_transpose):
    """Turn a tree of structure `outer` whose leaves are trees of structure `inner` into a
    tree of structure `inner` whose leaves are trees of structure `outer`.

    >>> tree_transpose(tree_structure([0, 0]), tree_structure((0, 0)), [(1, 2), (3, 4)])
    ([1, 3], [2, 4])
    """
    outer = tree.flatten_up_to(outer_treedef, pytree_to_transpose)
    inner = [tree.flatten_up_to(inner_treedef, t) for t in outer]
    columns = [tree.unflatten(outer_treedef, list(col)) for col in zip(*inner)]
    if not inner:
        columns = [tree.unflatten(outer_treedef, [])] * inner_treedef.num_leaves
    return tree.unflatten(inner_treedef, columns)


class Partial(functools.partial):
    """`functools.partial` as a pytree: the bound arguments are its children and the function
    its static part, so a Partial can be passed into and returned from transformed functions.

    >>> import xform as xf, numpy as np
    >>> add = Partial(lambda a, b: a + b, np.ones(2))
    >>> xf.jit(lambda f, x: f(x))(add, np.ones(2)).tolist()
    [2.0, 2.0]
    """

    def __new__(cls, func, *args, **kwargs):
        if isinstance(func, functools.partial):  # flatten nested partials, as functools does
            args = (*func.args, *args)
            kwargs = {**func.keywords, **kwargs}
            func = func.func
        return super().__new__(cls, func, *args, **kwargs)


tree.register_node(Partial, lambda p: ((p.args, p.keywords), p.func),
                   lambda func, children: Partial(func, *children[0], **children[1]))
