"""Automatic differentiation, seen: the evaluation trace tables and computational graphs of the
two classic worked examples, the cost of forward against reverse mode, and why finite
differences are no substitute.

    python examples/seeds.py [output directory]

writes the graphs (SVG when Graphviz's `dot` is installed, DOT text always) to the directory,
a temporary one by default.
"""
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

import xform as xf
import xform.numpy as xnp


def f1(x1, x2):
    """y = cos(x1) + x1·x2 − exp(x2)."""
    return xnp.cos(x1) + x1 * x2 - xnp.exp(x2)


def f2(x1, x2):
    """y = ln(x1) + x1·x2 − sin(x2)."""
    return xnp.log(x1) + x1 * x2 - xnp.sin(x2)


def section(title: str):
    print(f"\n{'=' * 8} {title}")


def tables():
    section("1. forward mode: y = cos(x1) + x1*x2 - exp(x2) at (2, 4), seeded on x1")
    t = xf.trace_table(f1, "forward", wrt=0)(2.0, 4.0)
    print(t)
    print(f"dy/dx1 = {float(t.derivative)!r}   (exact: -sin 2 + 4 = {float(-np.sin(2.0) + 4)!r})")

    section("2. reverse mode: y = ln(x1) + x1*x2 - sin(x2) at (2, 5), one backward sweep")
    t = xf.trace_table(f2, "reverse")(2.0, 5.0)
    print(t)
    d1, d2 = (float(d) for d in t.derivative)
    print(f"dy/dx1 = {d1!r} (exact 5.5), dy/dx2 = {d2!r} (exact 2 - cos 5 = "
          f"{float(2 - np.cos(5.0))!r})")


def graphs(out: Path):
    section(f"3. graphs, written to {out}")
    ir1 = xf.make_ir(f1)(2.0, 4.0)
    # The derivative program of example 2: inputs x1, x2 and the output adjoint ybar;
    # `seeds=[2]` colours what depends on ybar and rings the forward values it reuses.
    vjp_ir = xf.make_ir(lambda a, b, ybar: xf.vjp(f2, a, b)[1](ybar))(2.0, 5.0, 1.0)
    pictures = [("example1_graph", ir1, {"title": "y = cos(x1) + x1·x2 − exp(x2)"}),
                ("example2_vjp_graph", vjp_ir,
                 {"seeds": [2], "title": "the vjp of y = ln(x1) + x1·x2 − sin(x2)\n"
                  "inputs a = x1, b = x2, c = ȳ; blue: the backward pass; "
                  "ringed: the forward values it reuses"})]
    for name, ir, options in pictures:
        (out / f"{name}.dot").write_text(ir.to_dot(**options))
        if shutil.which("dot"):
            path = ir.render(out / f"{name}.svg", **options)
            print(f"wrote {path}")
        else:
            print(f"wrote {out / name}.dot (install Graphviz to render it)")
    print("the derivative program (cotangent input c), as text:")
    print(vjp_ir)


def passes():
    section("4. forward mode needs one pass per input, reverse mode one pass for all")
    for k in (0, 1):
        t = xf.trace_table(f2, "forward", wrt=k)(2.0, 5.0)
        print(f"example 2, forward pass {k + 1} (seed x{k + 1}): dy/dx{k + 1} = "
              f"{float(t.derivative)!r}")
    print(f"example 2, one reverse sweep: (dy/dx1, dy/dx2) = "
          f"{tuple(float(d) for d in xf.trace_table(f2, 'reverse')(2.0, 5.0).derivative)}")
    jvp_cost = xf.count_flops(lambda a, b: xf.jvp(f2, (a, b), (1.0, 0.0)))(2.0, 5.0).total
    grad_cost = xf.count_flops(xf.grad(f2, (0, 1)))(2.0, 5.0).total
    print(f"example 2 (2 inputs): forward 2 passes x {jvp_cost} flops = {2 * jvp_cost}; "
          f"reverse 1 pass = {grad_cost} flops")

    def g(x):
        return xnp.sum(xnp.log(x) + x * xnp.roll(x, 1) - xnp.sin(x))

    print("y = sum(log(x) + x*roll(x, 1) - sin(x)) of n inputs, flops of the full gradient:")
    print(f"{'inputs n':>9} {'forward: n passes':>18} {'reverse: 1 pass':>16}")
    for n in (10, 100, 1000):
        x = np.linspace(1.0, 2.0, n)
        e = np.zeros(n)
        e[0] = 1.0
        one_jvp = xf.count_flops(lambda x, e: xf.jvp(g, (x,), (e,)))(x, e).total
        reverse = xf.count_flops(xf.grad(g))(x).total
        print(f"{n:>9} {n * one_jvp:>18,} {reverse:>16,}")


def finite_differences():
    section("5. finite differences against the exact derivative (example 1, dy/dx1)")
    exact = float(xf.grad(f1)(2.0, 4.0))
    print(f"{'step h':>8} {'forward difference error':>25} {'central difference error':>25}")
    for k in range(1, 15, 1):
        h = 10.0 ** -k
        fwd = (f1(2.0 + h, 4.0) - f1(2.0, 4.0)) / h
        central = (f1(2.0 + h, 4.0) - f1(2.0 - h, 4.0)) / (2 * h)
        print(f"{h:>8.0e} {abs(float(fwd) - exact):>25.3e} {abs(float(central) - exact):>25.3e}")
    print("truncation error shrinks with h until rounding error (about eps/h) takes over; the "
          "exact derivative has neither")


def loss_curve(out: Path):
    section("6. a long optimisation: progress bar and loss curve")

    def rosenbrock(x):
        return xnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    res = xf.optim.minimize(rosenbrock, np.array([-1.2, 1.0]), method="bfgs", progress=True,
                            jit="interpreter")
    print(f"bfgs: {res.nit} iterations, loss {res.history[0]:.3g} -> {res.history[-1]:.3g}")
    try:
        import matplotlib
    except ImportError:
        print("install matplotlib (pip install 'xform[plot]') to draw res.plot()")
        return
    matplotlib.use("Agg")
    res.plot(path=out / "loss.png")
    print(f"wrote {out / 'loss.png'}")


def main(argv):
    out = Path(argv[1]) if len(argv) > 1 else Path(tempfile.mkdtemp(prefix="xform_seeds_"))
    out.mkdir(parents=True, exist_ok=True)
    tables()
    graphs(out)
    passes()
    finite_differences()
    loss_curve(out)


if __name__ == "__main__":
    main(sys.argv)
