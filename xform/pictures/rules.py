"""The symbols of a trace table: names such as v₋₁ and v̇₁, the text of an operation, and the
partial derivatives of common primitives as text (the rule shown beside each tangent or adjoint).

The values in a table never come from here: they are computed by the primitives' own jvp and
transpose rules. These templates only say in the textbook's notation what was computed; a
primitive without a template shows its partials as ∂vᵢ/∂vⱼ.
"""
from __future__ import annotations

import unicodedata

_SUBSCRIPT = str.maketrans("-0123456789", "₋₀₁₂₃₄₅₆₇₈₉")
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
DOT, BAR = "\u0307", "\u0304"  # combining dot and bar: v̇, v̄


class Name:
    """A variable of the table: a letter with an optional index, e.g. v₋₁, x₂, y."""

    __slots__ = ("index", "letter")

    def __init__(self, letter: str, index: int | None = None):
        self.letter, self.index = letter, index

    def mark(self, accent: str = "") -> str:
        """The name with a combining `accent` on its letter (DOT for tangents, BAR for
        adjoints)."""
        sub = "" if self.index is None else str(self.index).translate(_SUBSCRIPT)
        return unicodedata.normalize("NFC", f"{self.letter}{accent}{sub}")  # ẋ as one letter

    def __str__(self):
        return self.mark()


def power(base: str, n) -> str:
    """`base` raised to `n`, as a superscript for an integer."""
    return f"{base}{str(n).translate(_SUPERSCRIPT)}" if isinstance(n, int) else f"{base}^{n}"


# Each entry: (expression of the operation, partial derivatives per operand). Both are
# functions of the operand texts, the output's name `o` and the equation's params.
_UNARY = {
    "sin": ("sin {a}", ["cos({a})"]),
    "cos": ("cos {a}", ["−sin({a})"]),
    "tan": ("tan {a}", ["(1 + {o}²)"]),
    "exp": ("exp {a}", ["exp({a})"]),
    "log": ("ln {a}", ["1/{a}"]),
    "sqrt": ("√{a}", ["1/(2·{o})"]),
    "tanh": ("tanh {a}", ["(1 − {o}²)"]),
    "sinh": ("sinh {a}", ["cosh({a})"]),
    "cosh": ("cosh {a}", ["sinh({a})"]),
    "logistic": ("σ({a})", ["{o}·(1 − {o})"]),
    "neg": ("−{a}", ["−1"]),
    "abs": ("|{a}|", ["sign({a})"]),
}
_BINARY = {
    "add": ("{a} + {b}", ["1", "1"]),
    "sub": ("{a} − {b}", ["1", "−1"]),
    "mul": ("{a}·{b}", ["{b}", "{a}"]),
    "div": ("{a} / {b}", ["1/{b}", "−{o}/{b}"]),
    "pow": ("{a}^{b}", ["{b}·{a}^({b} − 1)", "ln({a})·{o}"]),
    "max": ("max({a}, {b})", ["[{a} ≥ {b}]", "[{b} > {a}]"]),
    "min": ("min({a}, {b})", ["[{a} ≤ {b}]", "[{b} < {a}]"]),
}


def _integer_pow(ops, o, params):
    n, a = params["y"], ops[0]
    d = {0: "0", 1: "1", 2: f"2·{a}"}.get(n, f"{n}·{power(a, n - 1)}")
    return power(a, n), [d]


def _generic(name: str, ops: list[str], o: str, params: dict):
    shown = [f"{k}={_param_text(v)}" for k, v in sorted(params.items())
             if _param_text(v) is not None]
    label = f"{name}[{', '.join(shown)}]" if shown else name
    return f"{label}({', '.join(ops)})", [f"∂{o}/∂{a}" for a in ops]


def _param_text(value) -> str | None:
    """A short text of a parameter; None for IRs and other bulky values (left out)."""
    if hasattr(value, "eqns") or isinstance(value, (tuple, list)) and len(str(value)) > 30:
        return None
    text = getattr(value, "__name__", None) or str(value)
    return text if len(text) <= 30 else None


def operation(name: str, ops: list[str], o: str, params: dict) -> tuple[str, list[str]]:
    """(expression, partial derivative per operand) of the primitive `name` applied to the
    operand texts `ops`, its output named `o`."""
    if name == "integer_pow":
        return _integer_pow(ops, o, params)
    table = _UNARY if len(ops) == 1 else _BINARY if len(ops) == 2 else {}
    entry = table.get(name)
    if entry is None:
        return _generic(name, ops, o, params)
    fields = dict(zip("ab", ops), o=o)
    expr, partials = entry
    return expr.format(**fields), [p.format(**fields) for p in partials]


def _term(partial: str, value: str) -> str:
    """`partial` times `value`, written as the textbook writes it."""
    if partial == "1":
        return value
    if partial == "−1":
        return f"−{value}"
    if partial.startswith("1/"):
        return f"{value}/{partial[2:]}"
    return f"{partial}·{value}"


def tangent_term(partial: str, tangent: str) -> str:
    """One term of a forward rule: ∂vᵢ/∂vⱼ·v̇ⱼ."""
    return _term(partial, tangent)


def adjoint_term(adjoint: str, partial: str) -> str:
    """One adjoint contribution: v̄ᵢ·∂vᵢ/∂vⱼ."""
    if partial.startswith("−") and partial != "−1":
        return f"−{adjoint}·{partial[1:]}"
    return _term(partial, adjoint) if partial in ("1", "−1") or partial.startswith("1/") \
        else f"{adjoint}·{partial}"


def total(terms: list[str]) -> str:
    """Terms joined into a sum (a leading minus sign becomes a subtraction); "0" if none."""
    if not terms:
        return "0"
    text = terms[0]
    for t in terms[1:]:
        text += f" − {t[1:]}" if t.startswith("−") else f" + {t}"
    return text

