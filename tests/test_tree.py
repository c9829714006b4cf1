"""Tests for xform.tree (pytrees)."""
import collections
import dataclasses
import doctest
from typing import Any, NamedTuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xform import tree

# ----------------------------------------------------------------------------- fixtures

Point = collections.namedtuple("Point", ["x", "y"])


class Typed(NamedTuple):
    a: Any
    b: Any


class Box:
    """A custom node with a hashable aux field."""

    def __init__(self, label, items):
        self.label = label
        self.items = items

    def __eq__(self, other):
        return type(other) is Box and (self.label, self.items) == (other.label, other.items)


tree.register_node(Box, lambda b: (b.items, b.label), lambda label, items: Box(label, list(items)))


@tree.register_dataclass
@dataclasses.dataclass
class Plain:
    w: Any
    b: Any


@tree.register_dataclass(meta_fields=("n", "name"))
@dataclasses.dataclass(frozen=True)
class WithMeta:
    x: Any
    n: int
    name: str = "m"
    y: Any = None


@dataclasses.dataclass
class CalledDirectly:
    p: Any
    q: Any = 0


tree.register_dataclass(CalledDirectly)


def roundtrip(t, **kw):
    leaves, treedef = tree.flatten(t, **kw)
    assert treedef.num_leaves == len(leaves)
    return tree.unflatten(treedef, leaves)


# ----------------------------------------------------------------------------- flatten / unflatten

@pytest.mark.parametrize("t", [
    1,
    None,
    (),
    [],
    {},
    (1, 2, 3),
    [1, [2, [3, (4,)]]],
    {"b": 1, "a": (2, 3), "c": {"z": None, "y": [4]}},
    (None, [None], {"k": None}),
    Point(1, (2, 3)),
    Typed([1], {"q": 2}),
    Box("lbl", [1, (2, 3)]),
    Plain(w=[1, 2], b=Point(3, 4)),
    WithMeta(x=(1, 2), n=3, name="hello", y={"a": 4}),
    CalledDirectly(p=1, q=[2, 3]),
    [Box("outer", [Box("inner", [1])]), Plain(1, None)],
])
def test_roundtrip(t):
    out = roundtrip(t)
    assert out == t
    assert type(out) is type(t)


def test_flatten_order_and_leaves():
    t = (1, [2, 3], {"b": 5, "a": 4}, None, Point(6, 7))
    leaves, treedef = tree.flatten(t)
    assert leaves == [1, 2, 3, 4, 5, 6, 7]
    assert tree.leaves(t) == leaves
    assert tree.structure(t) == treedef
    assert treedef.num_leaves == 7


def test_none_is_node_not_leaf():
    leaves, treedef = tree.flatten(None)
    assert leaves == []
    assert treedef.num_leaves == 0
    assert tree.unflatten(treedef, []) is None
    assert tree.leaves([None, 1, (None,)]) == [1]


def test_arrays_and_objects_are_leaves():
    a = np.arange(3)
    obj = object()
    leaves, treedef = tree.flatten((a, obj, 2.5, "s"))
    assert leaves[0] is a and leaves[1] is obj
    assert leaves[2:] == [2.5, "s"]
    assert treedef.num_leaves == 4


def test_subclasses_of_builtin_containers_are_leaves():
    od = collections.OrderedDict(a=1)

    class MyList(list):
        pass

    ml = MyList([1, 2])
    assert tree.leaves([od, ml]) == [od, ml]


def test_namedtuple_rebuilt_as_same_class():
    out = roundtrip(Typed(1, Point(2, 3)))
    assert type(out) is Typed and type(out.b) is Point
    assert out == Typed(1, Point(2, 3))


def test_dict_rebuilt_with_sorted_keys_and_equal():
    d = {"z": 1, "a": 2, "m": 3}
    leaves, treedef = tree.flatten(d)
    assert leaves == [2, 3, 1]
    assert tree.unflatten(treedef, leaves) == d


def test_is_leaf():
    t = (1, [2, 3], None)
    leaves, treedef = tree.flatten(t, is_leaf=lambda x: isinstance(x, list))
    assert leaves == [1, [2, 3]]
    assert tree.unflatten(treedef, leaves) == t
    leaves, treedef = tree.flatten(t, is_leaf=lambda x: x is None)
    assert leaves == [1, 2, 3, None]
    assert tree.unflatten(treedef, ["a", "b", "c", "d"]) == ("a", ["b", "c"], "d")


def test_unflatten_wrong_leaf_count():
    _, treedef = tree.flatten((1, [2, 3]))
    with pytest.raises(ValueError, match=r"expects 3 leaves, got 2"):
        tree.unflatten(treedef, [1, 2])
    with pytest.raises(ValueError, match=r"expects 3 leaves, got 4"):
        tree.unflatten(treedef, [1, 2, 3, 4])


def test_unflatten_accepts_iterables_and_leaf_treedef():
    _, treedef = tree.flatten([1, 2])
    assert tree.unflatten(treedef, iter("ab")) == ["a", "b"]
    _, leaf_def = tree.flatten(5)
    assert tree.unflatten(leaf_def, ["x"]) == "x"
    assert leaf_def.unflatten([7]) == 7


def test_unsortable_dict_keys():
    with pytest.raises(TypeError, match="sortable"):
        tree.flatten({1: "a", "b": 2})


# ----------------------------------------------------------------------------- dataclasses

def test_dataclass_meta_fields_in_treedef():
    a = WithMeta(x=1, n=3, y=2)
    b = WithMeta(x=10, n=3, y=20)
    c = WithMeta(x=1, n=4, y=2)
    leaves, treedef = tree.flatten(a)
    assert leaves == [1, 2]
    assert tree.structure(b) == treedef
    assert tree.structure(c) != treedef
    assert tree.structure(WithMeta(x=1, n=3, name="other", y=2)) != treedef
    out = tree.unflatten(treedef, ["p", "q"])
    assert out == WithMeta(x="p", n=3, name="m", y="q")


def test_dataclass_with_init_false_field_and_post_init_not_rerun():
    calls = []

    @tree.register_dataclass
    @dataclasses.dataclass
    class D:
        a: Any
        b: Any = dataclasses.field(init=False, default=0)

        def __post_init__(self):
            calls.append(self.a)

    d = D(1)
    d.b = 5
    out = roundtrip(d)
    assert (out.a, out.b) == (1, 5)
    assert calls == [1]


def test_register_dataclass_errors():
    class NotDC:
        pass

    with pytest.raises(TypeError, match="dataclass"):
        tree.register_dataclass(NotDC)

    @dataclasses.dataclass
    class D2:
        a: int

    with pytest.raises(ValueError, match="no fields"):
        tree.register_dataclass(D2, meta_fields=("nope",))


# ----------------------------------------------------------------------------- register_node

def test_register_node_custom_class():
    class Node:
        def __init__(self, left, right, tag):
            self.left, self.right, self.tag = left, right, tag

    tree.register_node(Node,
                       lambda n: ((n.left, n.right), n.tag),
                       lambda tag, ch: Node(ch[0], ch[1], tag))
    n = Node(1, Node(2, [3], "in"), "out")
    leaves, treedef = tree.flatten(n)
    assert leaves == [1, 2, 3]
    out = tree.unflatten(treedef, [4, 5, 6])
    assert isinstance(out, Node) and out.tag == "out" and out.left == 4
    assert out.right.tag == "in" and out.right.left == 5 and out.right.right == [6]
    assert tree.structure(Node(0, Node(0, [0], "in"), "out")) == treedef
    assert tree.structure(Node(0, Node(0, [0], "other"), "out")) != treedef
    assert "CustomNode(Node['out']" in repr(treedef)


def test_register_node_twice_or_builtin_fails():
    class K:
        pass

    tree.register_node(K, lambda k: ((), None), lambda a, c: K())
    with pytest.raises(ValueError, match="already registered"):
        tree.register_node(K, lambda k: ((), None), lambda a, c: K())
    with pytest.raises(ValueError, match="built-in"):
        tree.register_node(tuple, lambda k: ((), None), lambda a, c: ())


# ----------------------------------------------------------------------------- map

def test_map_single_and_multiple_trees():
    t1 = {"a": (1, 2), "b": [3, None]}
    t2 = {"a": (10, 20), "b": [30, None]}
    t3 = {"b": [300, None], "a": (100, 200)}
    assert tree.map(lambda x: x * 2, t1) == {"a": (2, 4), "b": [6, None]}
    assert tree.map(lambda x, y, z: x + y + z, t1, t2, t3) == \
        {"a": (111, 222), "b": [333, None]}


def test_map_custom_nodes():
    out = tree.map(lambda x, y: x - y, Plain(5, Point(6, 7)), Plain(1, Point(1, 1)))
    assert out == Plain(4, Point(5, 6))


def test_map_is_leaf():
    t = [(1, 2), (3, 4)]
    assert tree.map(sum, t, is_leaf=lambda x: type(x) is tuple) == [3, 7]


@pytest.mark.parametrize("other", [
    (1, [2, 3, 4]),
    (1, (2, 3)),
    [1, [2, 3]],
    (1, [2, 3], None),
    (1, {"a": 2, "b": 3}),
    (1, [2, None]),
])
def test_map_mismatched_structure_raises(other):
    with pytest.raises(ValueError) as info:
        tree.map(lambda x, y: x, (1, [2, 3]), other)
    msg = str(info.value)
    assert "PyTreeDef((*, [*, *]))" in msg
    assert repr(tree.structure(other)) in msg


# ----------------------------------------------------------------------------- PyTreeDef

def test_treedef_equality_and_hash():
    a = tree.structure((1, [2, 3], {"k": 4}))
    b = tree.structure(("x", ["y", np.zeros(3)], {"k": None}))
    assert a != b  # None is a node, not a leaf
    b = tree.structure(("x", ["y", np.zeros(3)], {"k": 5.0}))
    assert a == b and hash(a) == hash(b)
    cache = {a: "hit"}
    assert cache[b] == "hit"
    assert a != tree.structure((1, (2, 3), {"k": 4}))
    assert a != tree.structure((1, [2, 3], {"j": 4}))
    assert tree.structure((1, 2)) != tree.structure(Point(1, 2))
    assert tree.structure(Point(1, 2)) != tree.structure(Typed(1, 2))
    assert tree.structure(None) != tree.structure(())
    assert tree.structure(1) != tree.structure(None)
    assert a != "not a treedef"
    assert len({a, b, tree.structure(1), tree.structure(2)}) == 2


def test_treedef_repr():
    assert repr(tree.structure((1, [2, 3], {"a": 4}))) == "PyTreeDef((*, [*, *], {'a': *}))"
    assert repr(tree.structure(1)) == "PyTreeDef(*)"
    assert repr(tree.structure(None)) == "PyTreeDef(None)"
    assert repr(tree.structure((1,))) == "PyTreeDef((*,))"
    assert repr(tree.structure(())) == "PyTreeDef(())"
    assert repr(tree.structure(Point(1, None))) == "PyTreeDef(Point(x=*, y=None))"
    assert repr(tree.structure(WithMeta(1, 2))) == \
        "PyTreeDef(CustomNode(WithMeta[(2, 'm')], [*, None]))"


# ----------------------------------------------------------------------------- prefixes

def test_flatten_up_to():
    prefix = tree.structure((0, {"a": 0, "b": (0, 0)}))
    full = ([1, 2], {"a": {"deep": 3}, "b": (4, Point(5, 6))})
    assert tree.flatten_up_to(prefix, full) == [[1, 2], {"deep": 3}, 4, Point(5, 6)]
    assert tree.flatten_up_to(tree.structure(0), full) == [full]
    assert tree.flatten_up_to(tree.structure(None), None) == []


def test_flatten_up_to_custom_nodes():
    prefix = tree.structure(WithMeta(x=0, n=1, y=0))
    assert tree.flatten_up_to(prefix, WithMeta(x=(1, 2), n=1, y=[3])) == [(1, 2), [3]]
    with pytest.raises(ValueError, match="aux data"):
        tree.flatten_up_to(prefix, WithMeta(x=(1, 2), n=2, y=[3]))


@pytest.mark.parametrize("prefix, full, where", [
    ((0, 0), (1, 2, 3), "<root>"),
    ((0, 0), [1, 2], "<root>"),
    ((0, [0, 0]), (1, [2]), r"\[1\]"),
    ({"a": 0}, {"b": 1}, "<root>"),
    ({"a": (0, None)}, {"a": (1, 2)}, r"\['a'\]\[1\]"),
    (Point(0, 0), (1, 2), "<root>"),
])
def test_flatten_up_to_mismatch(prefix, full, where):
    prefix_def = tree.structure(prefix)
    with pytest.raises(ValueError, match=f"at {where}") as info:
        tree.flatten_up_to(prefix_def, full)
    assert repr(prefix_def) in str(info.value)
    assert repr(tree.structure(full)) in str(info.value)


def test_broadcast_prefix():
    full = ([1, 2], {"a": 3, "b": (4, 5)}, 6)
    assert tree.broadcast_prefix(0, full) == [0] * 6
    assert tree.broadcast_prefix((0, 1, 2), full) == [0, 0, 1, 1, 1, 2]
    assert tree.broadcast_prefix((0, {"a": None, "b": 1}, None), full) == \
        [0, 0, None, 1, 1, None]
    assert tree.broadcast_prefix(None, full) == [None] * 6
    assert tree.broadcast_prefix((0, None, [1]), ([1], None, [None])) == [0]


def test_broadcast_prefix_is_leaf_and_mismatch():
    full = ((1, 2), (3, 4))
    axes = [("x", "y"), ("z", "w")]
    out = tree.broadcast_prefix(axes, list(full), is_leaf=lambda x: type(x) is tuple)
    assert out == [("x", "y")] * 2 + [("z", "w")] * 2
    with pytest.raises(ValueError, match="prefix"):
        tree.broadcast_prefix((0, 0), (1, 2, 3))
    with pytest.raises(ValueError, match="prefix"):
        tree.broadcast_prefix([0, 0], (1, 2))


# ----------------------------------------------------------------------------- properties

leaf_ints = st.integers(min_value=-10**6, max_value=10**6)
nested = st.recursive(
    leaf_ints | st.none(),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=3), children, max_size=4),
        st.tuples(children, children).map(lambda xy: Point(*xy)),
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(nested)
def test_flatten_unflatten_identity(t):
    leaves, treedef = tree.flatten(t)
    assert all(type(x) is int for x in leaves)
    out = tree.unflatten(treedef, leaves)
    assert out == t
    assert tree.structure(out) == treedef
    assert hash(tree.structure(out)) == hash(treedef)
    assert tree.map(lambda x: x, t) == t
    assert tree.flatten_up_to(treedef, t) == leaves
    assert tree.broadcast_prefix(t, t) == leaves


@settings(max_examples=100, deadline=None)
@given(nested, nested)
def test_structure_equality_matches_shape(a, b):
    same = tree.structure(a) == tree.structure(b)
    relabeled = tree.map(lambda x: 0, b)
    assert same == (tree.map(lambda x: 0, a) == relabeled
                    and _types(a) == _types(b))


def _types(t):
    if isinstance(t, dict):
        return (dict, tuple(sorted((k, _types(v)) for k, v in t.items())))
    if isinstance(t, (list, tuple)):
        return (type(t), tuple(_types(x) for x in t))
    return None if t is None else int


def test_doctests():
    failures, _ = doctest.testmod(tree, optionflags=doctest.ELLIPSIS)
    assert failures == 0
