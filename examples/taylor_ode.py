"""Integrate the logistic equation y' = y (1 - y) with order-8 Taylor steps built by `xf.jet`.

For y' = f(y), the derivatives of the solution follow from those of f along it:
y^(j+1) = (f(y))^(j). Starting from y^(1) = f(y0), each jet pass of f along the series known
so far gives one more derivative, so k passes give the order-k Taylor polynomial of the
solution at the current point, and a step of size h sums it. The result is compared with the
closed form y(t) = 1 / (1 + (1/y0 - 1) e^-t), and with classical Runge-Kutta (order 4) at the
same step size.
"""
import numpy as np

import xform as xf


def f(y):
    return y * (1 - y)


def taylor_step(y, h, order):
    """y(t + h) from the order-`order` Taylor polynomial of the solution through y(t) = y."""
    derivs = [f(y)]
    for _ in range(order - 1):
        padded = derivs + [0.0] * (order - len(derivs))
        _, terms = xf.jet(f, (y,), (padded,))
        derivs.append(terms[len(derivs) - 1])
    powers = [h ** j / np.prod(np.arange(1, j + 1)) for j in range(1, order + 1)]
    return y + sum(d * p for d, p in zip(derivs, powers))


def rk4_step(y, h):
    k1 = f(y)
    k2 = f(y + h / 2 * k1)
    k3 = f(y + h / 2 * k2)
    k4 = f(y + h * k3)
    return y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def exact(t, y0):
    return 1 / (1 + (1 / y0 - 1) * np.exp(-t))


def main(y0=0.1, t_end=6.0, steps=12, order=8):
    h = t_end / steps
    y_taylor, y_rk4 = y0, y0
    worst_taylor = worst_rk4 = 0.0
    print(f"{'t':>5} {'exact':>18} {'taylor (order 8)':>18} {'error':>9} {'rk4 error':>9}")
    for i in range(1, steps + 1):
        y_taylor = float(taylor_step(y_taylor, h, order))
        y_rk4 = rk4_step(y_rk4, h)
        t = i * h
        e_taylor, e_rk4 = abs(y_taylor - exact(t, y0)), abs(y_rk4 - exact(t, y0))
        worst_taylor, worst_rk4 = max(worst_taylor, e_taylor), max(worst_rk4, e_rk4)
        print(f"{t:5.2f} {exact(t, y0):18.15f} {y_taylor:18.15f} {e_taylor:9.1e} {e_rk4:9.1e}")
    print(f"max error of the order-{order} Taylor method: {worst_taylor:.3e}")
    print(f"max error of rk4 at the same step: {worst_rk4:.3e}")


if __name__ == "__main__":
    main()
