"""Trace tables as text (aligned columns), Markdown and HTML, and values in a few characters."""
from __future__ import annotations

import html
import unicodedata

import numpy as np

from xform.core import get_aval


def summary(value) -> str:
    """A value in a few characters: a scalar to 6 significant digits, a small array in full, a
    larger one as its type, shape, mean and range."""
    a = np.asarray(value)
    if a.ndim == 0:
        return _scalar(a)
    if a.size <= 4:
        return f"{get_aval(a)} [{', '.join(_scalar(x) for x in a.ravel())}]"
    if not np.issubdtype(a.dtype, np.number):
        return f"{get_aval(a)} ({int(np.count_nonzero(a))} true)"
    return (f"{get_aval(a)} mean {_scalar(a.mean())}, range [{_scalar(a.min())}, "
            f"{_scalar(a.max())}]")


def _scalar(x) -> str:
    x = np.asarray(x)
    if np.issubdtype(x.dtype, np.floating):
        return f"{float(x):.6g}"
    return str(x.item())


def width(text: str) -> int:
    """Columns `text` takes on a terminal: combining accents (the dot of v̇) take none."""
    return sum(not unicodedata.combining(c) for c in text)


def _pad(text: str, n: int) -> str:
    return text + " " * (n - width(text))


def text_block(title: str, header: list[str], lines: list[list[str]]) -> str:
    """A titled block of aligned columns; a "│" column separates the two halves."""
    cols = [max(width(r[k]) for r in [header, *lines]) for k in range(len(header))]
    out = [title]
    for r in [header, *lines]:
        out.append("  ".join(_pad(c, w) for c, w in zip(r, cols)).rstrip())
    return "\n".join(out)


def markdown_block(title: str, header: list[str], lines: list[list[str]]) -> str:
    def cells(r):
        return "| " + " | ".join(c.replace("|", "\\|") for c in r) + " |"
    rule = "|" + "|".join("---" for _ in header) + "|"
    return "\n".join([f"**{title}**", "", cells(header), rule, *map(cells, lines)])


def html_block(title: str, header: list[str], lines: list[list[str]]) -> str:
    def row(tag, r):
        return "<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in r) + "</tr>"
    body = "".join(row("td", r) for r in lines)
    return (f"<table><caption>{html.escape(title)}</caption><thead>{row('th', header)}"
            f"</thead><tbody>{body}</tbody></table>")
