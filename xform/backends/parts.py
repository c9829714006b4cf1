"""A long generated body cut into functions ("parts"), one function per structure.

Numba's compile time grows faster than the size of a function, so the code generator cuts a
long body into parts the kernel calls in turn. Parts that differ only in the names of their
values and in the integers of their subscripts (an unrolled loop's steps: `xs[3]` against
`xs[4]`) are one function: its names are canonical, and a subscript integer that differs
between the uses becomes an argument. Cut points are chosen from the code itself (a hash of the
last two statements' structure), so a body that repeats is cut at the same place in every
repetition, and a program unrolled over 30 steps compiles a few distinct parts, not 30.

A part is also shape-generic: sizes (loop bounds, slice ends, reshapes) and float constants are
arguments too, so the same program over another batch size runs the same compiled parts.

Each distinct part is a module of its own, named by its content in the disk cache, so a part
compiles once per machine for every program that has it (a gradient and a value-and-gradient of
one function, an unrolled loop of 30 or of 60 steps, a batch of 32 or of 48). The kernel that
calls the parts is a plain Python function: compiled, Numba would link every part into it and
optimise them all again.
"""
from __future__ import annotations

import re
import zlib

NJIT = "@numba.njit(cache=CACHE, error_model='numpy', nogil=True)\n"
# A part holds about PART_LINES lines: it ends at the first cut point after PART_LINES / 2
# lines, and before it would exceed 2 * PART_LINES. A statement is a cut point when the hash of
# its and its predecessor's structure is divisible by CUT_EVERY.
PART_LINES, CUT_EVERY = 200, 8
# A size of at least SIZE_ARGUMENT is passed in, so that a part serves other shapes (a new
# batch size); smaller ones stay constants, for loops Numba can unroll.
SIZE_ARGUMENT = 8
_IDENT = re.compile(r"\b[A-Za-z_]\w*\b")
_TOKEN = re.compile(r"[A-Za-z_]\w*|\d+\.\d*(?:[eE][-+]?\d+)?|\d+(?:[eE][-+]?\d+)?|[\[\]()]")
# Integers in the arguments of these calls are sizes (`range(32)`, `x.reshape((32, 16))`), as
# are those of subscripts; min and max pass on the call they are in.
_SIZE_CALLS, _TRANSPARENT = {"range", "reshape", "empty", "zeros", "ones", "full"}, {"min", "max"}
_TARGETS = r"[A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*"
_ASSIGN = re.compile(rf"^\s*({_TARGETS})\s*=(?!=)")
_AUGMENTED = re.compile(r"^\s*([A-Za-z_]\w*)\s*[-+*/&|]=")
_FOR = re.compile(r"^\s*for\s+([A-Za-z_]\w*)\s+in\b")
_CONTINUES = re.compile(r"(else|elif|except|finally)\b")  # a clause of the statement above
_HOLE = "\0"  # where a subscript or size integer was, in a canonical text


def _statements(lines: list[str]) -> list[list[str]]:
    """The top-level statements of a body, each with its indented block (and `else` clauses)
    and the comment lines before it."""
    statements, comments = [], []
    for line in lines:
        if statements and (_CONTINUES.match(line) or line.startswith(" ") and not comments):
            statements[-1] += comments + [line]
            comments = []
        elif line.startswith("#"):
            comments.append(line)
        else:
            statements.append(comments + [line])
            comments = []
    return statements + ([comments] if comments else [])


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _reads_and_writes(lines: list[str]) -> tuple[list[str], set[str]]:
    """(names read before this code writes them, in order; names it writes). The generated
    code writes a name only by `name = `, `a, b = `, `name op= ` and `for name in`. A name
    assigned inside a block (`if not fast:` reruns a loop) may keep the value it had, so it
    counts as read too, unless written before (loop variables are never read after a loop)."""
    read_first, written = [], set()
    for line in lines:
        code = line.split("#", 1)[0]
        targets, rest, pattern = [], code, None
        for pattern in (_FOR, _ASSIGN, _AUGMENTED):
            m = pattern.match(code)
            if m:
                targets = [t.strip() for t in m.group(1).split(",")]
                rest = code if pattern is _AUGMENTED else code[m.end():]
                break
        maybe = targets if code.startswith(" ") and pattern is not _FOR else []
        for name in _IDENT.findall(rest) + maybe:
            if name not in written and name not in read_first:
                read_first.append(name)
        written.update(targets)
    return read_first, written


def _canonical(lines: list[str], local: set[str], literals: dict[str, str]
               ) -> tuple[str, list[int], list[bool], dict[str, str]]:
    """(the text of `lines` with local names renamed q0, q1, ... and the module's literal
    constants L0, L1, ... in order of appearance, each integer inside square brackets or
    giving a size (see `_SIZE_CALLS`) replaced by a hole; those integers; whether each may be
    a size; the renaming)."""
    rename, ints, sizes, out = {}, [], [], []
    for line in lines:
        calls, pieces, last, previous = [], [], 0, ""  # calls: the open brackets' names
        for m in _TOKEN.finditer(line):
            token = m.group()
            pieces.append(line[last:m.start()])
            last = m.end()
            if token in ("[", "("):
                inherit = token == "(" and (not previous or previous in _TRANSPARENT)
                calls.append(token if token == "[" else
                             (calls[-1] if calls else "") if inherit else previous)
            elif token in (")", "]"):
                calls.pop() if calls else None
            elif token in local and line[m.start() - 1:m.start()] != ".":
                token = rename.setdefault(token, f"q{len(rename)}")
            elif token in literals:
                token = rename.setdefault(token, f"L{sum(n in literals for n in rename)}")
            elif token.isdigit() and ("[" in calls or calls and calls[-1] in _SIZE_CALLS):
                ints.append(int(token))
                sizes.append(calls[-1] == "[" or calls[-1] in _SIZE_CALLS)
                token = _HOLE
            previous = token if token[:1].isalpha() or token[:1] == "_" else ""
            pieces.append(token)
        out.append("".join(pieces) + line[last:])
    return "\n".join(out), ints, sizes, rename


def _chunks(statements: list[list[str]], local: set[str]) -> list[list[str]]:
    """Consecutive statements grouped into parts, cut where the code says (see the module);
    sizes count code lines, not comments."""
    codes = [[line for line in s if not _is_comment(line)] for s in statements]
    shapes = [zlib.crc32(_canonical(code, local, {})[0].encode()) for code in codes]
    chunks, current, size = [], [], 0
    for j, (statement, code) in enumerate(zip(statements, codes)):
        if size and size + len(code) > 2 * PART_LINES:
            chunks.append(current)
            current, size = [], 0
        current += statement
        size += len(code)
        cut = zlib.crc32(f"{shapes[j - 1] if j else 0} {shapes[j]}".encode()) % CUT_EVERY == 0
        if cut and size >= PART_LINES // 2:
            chunks.append(current)
            current, size = [], 0
    return chunks + ([current] if current else [])


def _is_argument(expr: str, name: str, text: str) -> bool:
    """Whether a part takes the literal constant `name` (`expr`) as an argument: a float does
    (the scale of a mean is one over a batch size), unless it is an exponent, which LLVM turns
    into products only when it is a constant; integers stay constants (divisors, shifts)."""
    return expr.startswith("np.float") and not re.search(rf"\*\*\s*{name}\b", text)


def shape_generic(lines: list[str], literals: dict[str, str]
                  ) -> tuple[list[str], list[int], list[str]]:
    """(`lines` with each size of at least SIZE_ARGUMENT replaced by z0, z1, ...; those sizes;
    the literal constants to pass as arguments, see `_is_argument`), so that one function
    serves every shape of a short program; `lines` unchanged when it has no such size."""
    code = [line for line in lines if not _is_comment(line)]
    text, ints, sizes, _ = _canonical(code, set(), {})
    passed = [i for i, (n, size) in enumerate(zip(ints, sizes)) if size and n >= SIZE_ARGUMENT]
    if not passed:
        return lines, [], []
    holes = iter(f"z{passed.index(i)}" if i in passed else str(n) for i, n in enumerate(ints))
    new = iter(re.sub(_HOLE, lambda _: next(holes), text).split("\n"))
    floats = [name for name, expr in literals.items() if _is_argument(expr, name, text)]
    return [line if _is_comment(line) else next(new) for line in lines], \
        [ints[i] for i in passed], floats


def split_into_parts(lines: list[str], params: list[str], ret: str, header: str,
                     literals: dict[str, str]) -> tuple[str, list[str]]:
    """(module-level source loading the parts part0, part1, ..., the kernel body calling them
    in turn, each call below the comments of the code it runs): each call passes the local
    values its code reads that earlier code wrote (and the subscript integers that differ
    between the calls of one part) and gets back those it writes that later code reads.
    `header` starts each part's module (imports); `literals` are the program's constants."""
    statements = _statements(lines)
    local = set(params).union(*(_reads_and_writes(s)[1] for s in statements))
    chunks = _chunks(statements, local)
    codes = [[line for line in chunk if not _is_comment(line)] for chunk in chunks]
    usage = [_reads_and_writes(code) for code in codes]
    later = set(_reads_and_writes([ret])[0]) & local  # read after each part, going backwards
    needed = []
    for read, written in reversed(usage):
        needed.append(later)
        later = (later - written) | (set(read) & local)
    shapes: dict[tuple, int] = {}  # (text, inputs, outputs, constants, sizes) -> part number
    uses: list[tuple[int, list[int], list[str], list[str]]] = []
    defined = set(params)  # names some earlier code wrote
    for code, (read, written), after in zip(codes, usage, reversed(needed)):
        text, ints, sizes, rename = _canonical(code, local, literals)
        ins = [name for name in read if name in defined]
        defined |= written
        outs = sorted(written & after, key=lambda name: int(rename[name][1:]))
        consts = [(old, new) for old, new in rename.items() if old in literals]
        floats = [old for old, new in consts if _is_argument(literals[old], new, text)]
        key = (text, tuple(rename[name] for name in ins + floats),
               tuple(rename[name] for name in outs),
               tuple((new, literals[old]) for old, new in consts if old not in floats),
               tuple(sizes))
        uses.append((shapes.setdefault(key, len(shapes)), ints, ins + floats, outs))
    source, passed = ["from xform.backends.numba import load_module\n\n"], {}
    for (text, ins, outs, consts, sizes), k in shapes.items():
        ints = [u[1] for u in uses if u[0] == k]
        columns = [tuple(v[i] for v in ints) for i in range(len(sizes))]  # a hole's values
        passed[k] = [i for i, (c, size) in enumerate(zip(columns, sizes))
                     if len(set(c)) > 1 or size and max(c) >= SIZE_ARGUMENT]
        holes = iter(f"z{passed[k].index(i)}" if i in passed[k] else str(c[0])
                     for i, c in enumerate(columns))
        body = re.sub(_HOLE, lambda _: next(holes), text)
        if passed[k]:  # one row per use; a row is passed as an array, which Numba does not
            # specialise on as it would on integer constants
            rows = ", ".join(f"[{', '.join(str(v[i]) for i in passed[k])}]" for v in ints)
            source.append(f"N{k} = np.array([{rows}], dtype=np.int64)\n")
            body = "".join(f"z{j} = n[{j}]\n" for j in range(len(passed[k]))) + body
        args = ", ".join([*ins, *(["n"] if passed[k] else [])])
        module = ("# A part of programs generated by xform (see xform.backends.parts).\n"
                  + header + "\n" + "".join(f"{name} = {expr}\n" for name, expr in consts)
                  + f"\n\n{NJIT}def part({args}):\n"
                  + "".join(f"    {line}\n" for line in body.split("\n"))
                  + f"    return ({''.join(o + ', ' for o in outs)})\n")
        source.append(f"part{k} = load_module({module!r}).part\n")
    calls, seen = [], {}
    for chunk, (k, ints, ins, outs) in zip(chunks, uses):
        calls += [line.lstrip() for line in chunk if _is_comment(line)]
        row = seen[k] = seen.get(k, -1) + 1
        call = f"part{k}({', '.join([*ins, *([f'N{k}[{row}]'] if passed[k] else [])])})"
        calls.append(f"({''.join(o + ', ' for o in outs)}) = {call}" if outs else call)
    return "".join(source) + "\n\n", calls
