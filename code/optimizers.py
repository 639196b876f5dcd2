r"""Loss surfaces, optimizers and the simulation loop behind the lecture.

Everything a slide shows is computed here, with numpy only: no plotting, no printing, no files.
The file reads in the order of the lecture:

1. **Surfaces**: small frozen objects that carry their value, analytic gradient, known minima,
   plot bounds and a default start. ``value`` and ``grad`` take ``p`` with ``p[0] = x`` and
   ``p[1] = y``, so the same function scores a point and draws a meshgrid::

       f = SURFACES["quadratic"]
       f.value([1.0, 2.0])                    # 5.0
       f.value(np.stack(np.meshgrid(xs, ys)))  # a grid of values for a contour plot

2. **Data**: a seeded least-squares problem whose full-batch loss *is* a chosen quadratic surface
   (up to a constant), so that SGD and mini-batch runs use real per-example gradients.
3. **Update rules**: one factory per optimizer returning an ``Optimizer`` (an ``init``/``update``
   pair of pure functions, as in optax). The rules follow PyTorch's documented ``torch.optim``
   algorithms, so the same hyperparameters in PyTorch give the same trajectory.
4. **Registries**: ``OPTIMIZERS`` and ``SURFACES``, with ``get_optimizer`` / ``get_surface``.
5. **Simulation**: ``run`` returns the whole trajectory, start included, for one run or a batch
   of runs (many starts, or many hyperparameters) in one vectorised computation.

Conventions: ``g`` is the gradient, ``t`` the step counter starting at 1, ``lr`` the learning rate.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, NamedTuple

import numpy as np

__all__ = [
    "Surface", "quadratic", "rosenbrock", "saddle", "double_well", "SURFACES", "get_surface",
    "LeastSquares", "least_squares",
    "Optimizer", "gd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam",
    "adamax", "nadam", "nadam_momentum", "amsgrad", "adamw", "OPTIMIZERS", "DEMO", "get_optimizer", "demo",
    "state_per_weight",
    "constant", "step_decay", "exponential", "cosine", "warmup", "cyclical", "scheduled", "clipped",
    "Trajectory", "run", "replay",
]


def _readonly(a) -> np.ndarray:
    a = np.array(a, dtype=float)
    a.setflags(write=False)
    return a


# ---------------------------------------------------------------------------------------------
# 1. Loss surfaces
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Surface:
    """A 2-D loss surface with its known answer.

    ``value(p)`` and ``grad(p)`` take ``p`` of shape ``(2, ...)`` (``p[0]`` is x, ``p[1]`` is y)
    and broadcast over the trailing axes; ``grad`` returns shape ``(2, ...)``.
    ``minima`` has shape ``(m, 2)`` with the global minimum first; ``saddles`` likewise.
    ``hessian`` is set for quadratic surfaces only.
    """

    name: str
    formula: str  # LaTeX, as on the slide
    value: Callable[[Any], np.ndarray]
    grad: Callable[[Any], np.ndarray]
    minima: np.ndarray
    bounds: tuple  # ((x_min, x_max), (y_min, y_max))
    start: tuple  # default start point (x, y)
    saddles: np.ndarray = field(default_factory=lambda: _readonly(np.empty((0, 2))))
    hessian: np.ndarray | None = None

    def __call__(self, p):
        return self.value(p)

    @property
    def minimum(self) -> np.ndarray:
        """The global minimum (x, y)."""
        return self.minima[0]

    @property
    def f_min(self) -> float:
        """The loss at the global minimum."""
        return float(self.value(self.minimum))

    @property
    def eigenvalues(self) -> np.ndarray:
        """Eigenvalues of the Hessian, ascending (quadratic surfaces only)."""
        if self.hessian is None:
            raise ValueError(f"surface {self.name!r} is not quadratic: it has no constant Hessian")
        return np.linalg.eigvalsh(self.hessian)

    @property
    def condition_number(self) -> float:
        lam = self.eigenvalues
        return float(lam[-1] / lam[0])

    @property
    def lr_max(self) -> float:
        r"""Gradient descent's stability limit :math:`2 / \lambda_{\max}`: it converges iff lr is below."""
        return float(2.0 / self.eigenvalues[-1])

    def momentum_lr_max(self, mu, nesterov: bool = False):
        r"""Momentum's stability limit on this quadratic for momentum ``mu`` (a number or an array): heavy ball
        converges iff lr is below :math:`(2 + 2\mu) / \lambda_{\max}`, Nesterov (PyTorch's form) iff below
        :math:`2 (1 + \mu) / ((1 + 2\mu)\, \lambda_{\max})`."""
        mu, lam = np.asarray(mu, dtype=float), self.eigenvalues[-1]
        limit = 2 * (1 + mu) / ((1 + 2 * mu) * lam) if nesterov else (2 + 2 * mu) / lam
        return float(limit) if limit.ndim == 0 else limit


def quadratic(hessian, center=(0.0, 0.0), *, name="quadratic", formula=None,
              bounds=((-5.0, 5.0), (-5.0, 5.0)), start=(-4.0, 3.0)) -> Surface:
    r"""The quadratic :math:`f(p) = \tfrac12 (p - p^*)^\top H (p - p^*)` with a symmetric 2x2 Hessian ``H``.

    Positive definite ``H`` gives a bowl with its minimum at ``center``; an indefinite ``H`` gives a
    saddle there (and no minimum: a run from most starts leaves the bounds and is marked diverged).
    """
    H = np.array(hessian, dtype=float)
    if H.shape != (2, 2) or not np.allclose(H, H.T):
        raise ValueError(f"hessian must be a symmetric 2x2 matrix, got {H.tolist()}")
    c = np.array(center, dtype=float)
    (a, b), (_, d) = H
    cx, cy = c

    # Speed, not math (``run`` calls these for every point of every run): both work in place on their
    # own arrays, the operations and their order those of 0.5 (a dx dx + 2 b dx dy + d dy dy) and of
    # (a dx + b dy, b dx + d dy), so the numbers are the same; a diagonal Hessian skips the cross terms.
    def value(p):
        p = np.asarray(p, dtype=float)
        dx, dy = (p[0] - cx, p[1] - cy) if cx or cy else (p[0], p[1])
        f = a * dx
        f *= dx
        if b != 0:
            f += 2.0 * b * dx * dy
        q = d * dy
        q *= dy
        f += q
        f *= 0.5
        return f

    def grad(p):
        p = np.asarray(p, dtype=float)
        dx, dy = (p[0] - cx, p[1] - cy) if cx or cy else (p[0], p[1])
        g = np.empty(p.shape)
        np.multiply(a, dx, out=g[0, ...])
        np.multiply(d, dy, out=g[1, ...])
        if b != 0:
            g[0, ...] += b * dy
            g[1, ...] += b * dx
        return g

    lam = np.linalg.eigvalsh(H)
    at_center = c.reshape(1, 2)
    minima = at_center if lam[0] > 0 else np.empty((0, 2))
    saddles = at_center if lam[0] < 0 < lam[1] else np.empty((0, 2))
    if formula is None:
        formula = (rf"\tfrac12 (p - p^*)^\top H (p - p^*),\ H = "
                   rf"\begin{{pmatrix}} {a:g} & {b:g} \\ {b:g} & {d:g} \end{{pmatrix}}")
    return Surface(name, formula, value, grad, _readonly(minima), bounds, tuple(start),
                   _readonly(saddles), _readonly(H))


def rosenbrock(a: float = 1.0, b: float = 100.0) -> Surface:
    r"""Rosenbrock's banana :math:`f(x, y) = (a - x)^2 + b (y - x^2)^2`, minimum at :math:`(a, a^2)`."""

    def value(p):
        p = np.asarray(p, dtype=float)
        x, y = p[0], p[1]
        return (a - x) ** 2 + b * (y - x * x) ** 2

    def grad(p):
        p = np.asarray(p, dtype=float)
        x, y = p[0], p[1]
        r = y - x * x
        return np.stack([-2.0 * (a - x) - 4.0 * b * x * r, 2.0 * b * r])

    return Surface("rosenbrock", rf"(1 - x)^2 + 100\,(y - x^2)^2", value, grad,
                   _readonly([[a, a * a]]), ((-2.0, 2.0), (-1.0, 3.0)), (-1.5, 2.5))


def saddle() -> Surface:
    r"""A saddle with two valleys: :math:`f(x, y) = \tfrac12 x^2 - \tfrac12 y^2 + \tfrac14 y^4`.

    The origin is a saddle point (Hessian eigenvalues 1 and -1); the minima are :math:`(0, \pm 1)`
    with :math:`f = -1/4`. A start on the x-axis slides into the saddle and stays there: the
    gradient has no y-component to push it off.
    """

    def value(p):
        p = np.asarray(p, dtype=float)
        x, y = p[0], p[1]
        return 0.5 * x * x - 0.5 * y * y + 0.25 * y ** 4

    def grad(p):
        p = np.asarray(p, dtype=float)
        x, y = p[0], p[1]
        return np.stack([x, y ** 3 - y])

    return Surface("saddle", r"\tfrac12 x^2 - \tfrac12 y^2 + \tfrac14 y^4", value, grad,
                   _readonly([[0.0, 1.0], [0.0, -1.0]]), ((-2.0, 2.0), (-1.6, 1.6)), (-1.8, 1e-3),
                   _readonly([[0.0, 0.0]]))


def double_well(tilt: float = 0.25) -> Surface:
    r"""A tilted double well :math:`f(x, y) = \tfrac14 x^4 - \tfrac12 x^2 + c\,x + y^2` (``c = tilt``).

    For ``0 < c < 2 / (3 \sqrt 3)`` it has a global minimum at negative x, a local minimum at
    positive x and a saddle between them; all three are the real roots of :math:`x^3 - x + c = 0`.
    """
    if not 0.0 < tilt < 2.0 / (3.0 * math.sqrt(3.0)):
        raise ValueError(f"tilt must be in (0, {2 / (3 * math.sqrt(3)):.4f}) to keep two minima, got {tilt}")
    roots = np.sort(np.roots([1.0, 0.0, -1.0, tilt]).real)  # x_global < x_saddle < x_local
    for _ in range(3):  # polish the roots with Newton steps to full float64 accuracy
        roots = roots - (roots ** 3 - roots + tilt) / (3.0 * roots ** 2 - 1.0)

    def value(p):
        p = np.asarray(p, dtype=float)
        x, y = p[0], p[1]
        return 0.25 * x ** 4 - 0.5 * x * x + tilt * x + y * y

    def grad(p):
        p = np.asarray(p, dtype=float)
        x, y = p[0], p[1]
        return np.stack([x ** 3 - x + tilt, 2.0 * y])

    return Surface("double_well", rf"\tfrac14 x^4 - \tfrac12 x^2 + {tilt:g}\,x + y^2", value, grad,
                   _readonly([[roots[0], 0.0], [roots[2], 0.0]]), ((-2.0, 2.0), (-1.5, 1.5)),
                   (1.9, 1.2), _readonly([[roots[1], 0.0]]))


# ---------------------------------------------------------------------------------------------
# 2. Data: gradients from examples, not from added noise
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class LeastSquares:
    r"""A least-squares problem :math:`L(w) = \frac{1}{2n} \sum_i (a_i^\top w - b_i)^2`.

    Built by ``least_squares`` so that ``L(w) = surface(w) + noise_floor`` exactly (up to
    round-off): the same bowl as ``surface``, but each gradient can be estimated from a few examples.
    """

    features: np.ndarray  # A, shape (n, 2)
    targets: np.ndarray  # b, shape (n,)
    surface: Surface  # the quadratic that L equals up to a constant

    @property
    def n(self) -> int:
        return self.features.shape[0]

    @property
    def noise_floor(self) -> float:
        """The loss at the minimum: the part of the targets no line can fit."""
        return float(self.loss(self.surface.minimum))

    def residuals(self, w) -> np.ndarray:
        """``A w - b`` for ``w`` of shape ``(2, ...)``; returns shape ``(n, ...)``."""
        w = np.asarray(w, dtype=float)
        return np.tensordot(self.features, w, axes=(1, 0)) - self.targets.reshape((-1,) + (1,) * (w.ndim - 1))

    def loss(self, w) -> np.ndarray:
        """Full-batch loss for ``w`` of shape ``(2, ...)``."""
        return 0.5 * np.mean(self.residuals(w) ** 2, axis=0)

    def example_gradients(self, w) -> np.ndarray:
        """Per-example gradients :math:`a_i (a_i^\\top w - b_i)` at one point ``w``: shape ``(n, 2)``."""
        return self.features * self.residuals(np.asarray(w, dtype=float).reshape(2))[:, None]

    def grad(self, w) -> np.ndarray:
        """Full-batch gradient, the mean of the per-example gradients, for ``w`` of shape ``(2, ...)``."""
        return np.tensordot(self.features.T, self.residuals(w), axes=(1, 0)) / self.n

    def batch_grad(self, w, idx) -> np.ndarray:
        r"""Mean gradient over the examples ``idx`` (shape ``(k, B)``) for ``k`` points ``w`` (shape ``(k, 2)``).

        $$
        g_t = \dfrac{1}{B} \sum_{i \in \mathcal{B}_t} a_i \left(a_i^\top x_{t-1} - b_i\right)
        $$

        ``B = 1`` is SGD, ``1 < B < n`` mini-batch; ``run`` draws the batches without replacement.
        """
        a = self.features[idx]  # (k, B, 2)
        r = np.einsum("kbj,kj->kb", a, w) - self.targets[idx]
        return np.einsum("kb,kbj->kj", r, a) / idx.shape[-1]


def least_squares(surface: Surface, n: int = 64, noise: float = 1.0, seed: int = 0) -> LeastSquares:
    r"""Make ``n`` examples with 2 features whose full-batch loss is ``surface`` plus a constant.

    Construction: whiten standard-normal features so that :math:`A^\top A / n = I` exactly, then
    scale them by :math:`H^{1/2}`, so that :math:`A^\top A / n = H`. The targets are
    :math:`b = A w^* + e` with the noise ``e`` projected orthogonal to the columns of ``A``.
    Then :math:`L(w) = \tfrac12 (w - w^*)^\top H (w - w^*) + \|e\|^2 / 2n`, the mean of the
    per-example gradients is exactly :math:`H (w - w^*)`, and at :math:`w^*` the per-example
    gradients :math:`-a_i e_i` do not vanish: SGD keeps moving around the minimum.
    """
    if surface.hessian is None or surface.eigenvalues[0] <= 0:
        raise ValueError(f"surface must be a positive-definite quadratic, got {surface.name!r}")
    if not (isinstance(n, (int, np.integer)) and n >= 3):
        raise ValueError(f"n must be an integer >= 3, got {n!r}")
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 2))
    z = z @ np.linalg.inv(np.linalg.cholesky(z.T @ z / n)).T  # now z.T @ z / n == I
    lam, q = np.linalg.eigh(surface.hessian)
    a = z @ (q * np.sqrt(lam)) @ q.T  # A = Z H^{1/2}
    e = noise * rng.standard_normal(n)
    e -= a @ np.linalg.solve(a.T @ a, a.T @ e)  # no part of the noise can be fitted
    b = a @ surface.minimum + e
    return LeastSquares(_readonly(a), _readonly(b), surface)


# ---------------------------------------------------------------------------------------------
# 3. Update rules
# ---------------------------------------------------------------------------------------------

class Optimizer(NamedTuple):
    """An optimizer as a pair of pure functions (optax's ``GradientTransformation``).

    ``init(x)`` returns the first state. ``update(g, state, x)`` returns ``(delta, new_state)``;
    the caller applies ``x + delta``. ``step_size(state)`` is the per-coordinate learning rate the
    rule applies at that state (``lr`` for the non-adaptive ones). Nothing is mutated.
    """

    name: str
    init: Callable
    update: Callable
    step_size: Callable
    hyperparams: dict


def _check(name: str, value, low: float, high: float = math.inf, *,
           low_open: bool = False, high_open: bool = True):
    """Validate a hyperparameter (a number, or an array for a sweep) against an interval."""
    v = np.asarray(value, dtype=float)
    ok = np.isfinite(v) & ((v > low) if low_open else (v >= low)) & ((v < high) if high_open else (v <= high))
    if not np.all(ok):
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        bad = value if v.ndim == 0 else v[~ok].ravel()[0]
        raise ValueError(f"{name} must be in {interval}, got {bad}")
    return value if v.ndim == 0 else v


def _lr(lr):
    return _check("lr", lr, 0.0, low_open=True)


def _t(state):
    """The step counter of a state, or of a recorded history of states, shaped to broadcast (t >= 1)."""
    t = np.maximum(np.asarray(state.t), 1)
    return t[:, None] if t.ndim else t


class EmptyState(NamedTuple):
    t: int


class MomentumState(NamedTuple):
    t: int
    b: Any  # the momentum buffer: a running sum of gradients


def gd(lr: float = 1e-3) -> Optimizer:
    r"""Gradient descent. GD, SGD and mini-batch use this one rule; only the gradient differs.

    $$
    x_t = x_{t-1} - \eta\, g_t
    $$

    Default: lr 1e-3 (PyTorch ``SGD``). Full batch (GD): ``g`` is the exact gradient; SGD: the
    gradient of one example; mini-batch: the mean over ``B`` examples (``run(..., batch_size=B)``).
    """
    lr = _lr(lr)

    def update(g, state, x):
        return -lr * g, EmptyState(state.t + 1)

    return Optimizer("gd", lambda x: EmptyState(0), update, lambda state: lr, {"lr": lr})


def momentum(lr: float = 1e-3, momentum: float = 0.9, nesterov: bool = False) -> Optimizer:
    r"""Heavy-ball momentum, as ``torch.optim.SGD(momentum=mu)``.

    $$
    \begin{aligned}
    b_t &= \mu\, b_{t-1} + g_t, \qquad b_0 = 0 \\
    x_t &= x_{t-1} - \eta\, b_t
    \end{aligned}
    $$

    Defaults: lr 1e-3, momentum 0.9 (PyTorch's SGD has momentum 0 by default).
    Conventions: Sutskever et al. (2013) and Keras write :math:`v_t = \mu v_{t-1} - \eta g_t`,
    :math:`x_t = x_{t-1} + v_t`. At a constant lr it is the same path (:math:`v = -\eta b`); the two
    differ once the learning rate changes during training. PyTorch's optional ``dampening`` d makes the
    buffer :math:`\mu b_{t-1} + (1 - d) g_t` except on the first step, where it is :math:`b_1 = g_1`
    undamped; with d = 0 (its default, and the only case here) that is just :math:`b_0 = 0`.
    """
    lr = _lr(lr)
    mu = _check("momentum", momentum, 0.0, 1.0)

    def update(g, state, x):
        b = mu * state.b + g
        if nesterov:
            return -lr * (g + mu * b), MomentumState(state.t + 1, b)
        return -lr * b, MomentumState(state.t + 1, b)

    name = "nesterov" if nesterov else "momentum"
    return Optimizer(name, lambda x: MomentumState(0, np.zeros_like(x)), update, lambda state: lr,
                     {"lr": lr, "momentum": mu})


nesterov = partial(momentum, nesterov=True)
nesterov.__doc__ = r"""Nesterov's accelerated gradient, as ``torch.optim.SGD(momentum=mu, nesterov=True)``.

    $$
    \begin{aligned}
    b_t &= \mu\, b_{t-1} + g_t \\
    x_t &= x_{t-1} - \eta\,(g_t + \mu\, b_t)
    \end{aligned}
    $$

    Defaults: lr 1e-3, momentum 0.9. The paper (Nesterov 1983; Sutskever et al. 2013) takes the
    gradient at the look-ahead point :math:`x + \mu v`; PyTorch and Keras rewrite the update so that
    the gradient is taken at the current point, the form here (the same iterates, shifted variable).
    """


class AdaGradState(NamedTuple):
    t: int
    s: Any  # sum of squared gradients


def adagrad(lr: float = 1e-2, lr_decay: float = 0.0, initial_accumulator_value: float = 0.0,
            eps: float = 1e-10) -> Optimizer:
    r"""AdaGrad (Duchi, Hazan and Singer 2011), as ``torch.optim.Adagrad``.

    $$
    \begin{aligned}
    s_t &= s_{t-1} + g_t^2 \\
    x_t &= x_{t-1} - \dfrac{\eta}{\sqrt{s_t} + \epsilon}\, g_t
    \end{aligned}
    $$

    Defaults: lr 1e-2, accumulator starts at 0, eps 1e-10 outside the root. With ``lr_decay`` the
    learning rate is :math:`\eta / (1 + (t - 1)\,\text{lr\_decay})`. Keras starts the accumulator
    at 0.1 with lr 1e-3 and eps 1e-7, so its first step is not :math:`\eta\,\mathrm{sign}(g)`.
    """
    lr = _lr(lr)
    lr_decay = _check("lr_decay", lr_decay, 0.0)
    s0 = _check("initial_accumulator_value", initial_accumulator_value, 0.0)
    eps = _check("eps", eps, 0.0, low_open=True)

    def update(g, state, x):
        t = state.t + 1
        s = state.s + g * g
        clr = lr / (1 + (t - 1) * lr_decay)
        return -clr * g / (np.sqrt(s) + eps), AdaGradState(t, s)

    def step_size(state):
        return lr / (1 + (_t(state) - 1) * lr_decay) / (np.sqrt(state.s) + eps)

    return Optimizer("adagrad", lambda x: AdaGradState(0, np.full_like(x, s0)), update, step_size,
                     {"lr": lr, "lr_decay": lr_decay, "initial_accumulator_value": s0, "eps": eps})


class RMSpropState(NamedTuple):
    t: int
    v: Any  # running average of squared gradients


def rmsprop(lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8) -> Optimizer:
    r"""RMSprop (Hinton, Coursera lecture 6e, 2012), as ``torch.optim.RMSprop``.

    $$
    \begin{aligned}
    v_t &= \alpha\, v_{t-1} + (1 - \alpha)\, g_t^2 \\
    x_t &= x_{t-1} - \dfrac{\eta}{\sqrt{v_t} + \epsilon}\, g_t
    \end{aligned}
    $$

    Defaults: lr 1e-2, alpha 0.99, eps 1e-8 added after the root, no bias correction: with
    :math:`v_0 = 0` the first step is :math:`\eta / \sqrt{1 - \alpha} = 10\,\eta` per coordinate.
    The lecture used 0.9 for :math:`\alpha`; Keras uses rho 0.9, lr 1e-3, eps 1e-7.
    """
    lr = _lr(lr)
    alpha = _check("alpha", alpha, 0.0, 1.0)
    eps = _check("eps", eps, 0.0, low_open=True)

    def update(g, state, x):
        v = alpha * state.v + (1 - alpha) * g * g
        return -lr * g / (np.sqrt(v) + eps), RMSpropState(state.t + 1, v)

    return Optimizer("rmsprop", lambda x: RMSpropState(0, np.zeros_like(x)), update,
                     lambda state: lr / (np.sqrt(state.v) + eps), {"lr": lr, "alpha": alpha, "eps": eps})


class AdaDeltaState(NamedTuple):
    t: int
    v: Any  # running average of squared gradients
    u: Any  # running average of squared updates


def adadelta(lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6) -> Optimizer:
    r"""AdaDelta (Zeiler 2012), as ``torch.optim.Adadelta``.

    $$
    \begin{aligned}
    v_t &= \rho\, v_{t-1} + (1 - \rho)\, g_t^2 \\
    \Delta_t &= \dfrac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}}\, g_t \\
    u_t &= \rho\, u_{t-1} + (1 - \rho)\, \Delta_t^2 \\
    x_t &= x_{t-1} - \eta\, \Delta_t
    \end{aligned}
    $$

    Defaults: lr 1.0 (a multiplier PyTorch adds; the paper has none), rho 0.9, eps 1e-6. The paper
    uses rho 0.95; Keras uses lr 1e-3, rho 0.95, eps 1e-7. The first step is tiny,
    :math:`\sqrt{\epsilon} / \sqrt{(1-\rho) g^2 + \epsilon}\; g`, about 3.2e-3 for a large g.
    """
    lr = _lr(lr)
    rho = _check("rho", rho, 0.0, 1.0)
    eps = _check("eps", eps, 0.0, low_open=True)

    def update(g, state, x):
        v = rho * state.v + (1 - rho) * g * g
        delta = np.sqrt(state.u + eps) / np.sqrt(v + eps) * g
        u = rho * state.u + (1 - rho) * delta * delta
        return -lr * delta, AdaDeltaState(state.t + 1, v, u)

    def init(x):
        return AdaDeltaState(0, np.zeros_like(x), np.zeros_like(x))

    return Optimizer("adadelta", init, update, lambda state: lr * np.sqrt(state.u + eps) / np.sqrt(state.v + eps),
                     {"lr": lr, "rho": rho, "eps": eps})


class AdamState(NamedTuple):
    t: int
    m: Any  # running average of gradients (first moment)
    v: Any  # running average of squared gradients (second moment)


class AMSGradState(NamedTuple):
    t: int
    m: Any
    v: Any
    v_max: Any  # largest v so far


def adam(lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
         weight_decay: float = 0.0, amsgrad: bool = False, decoupled: bool = False,
         bias_correction: bool = True) -> Optimizer:
    r"""Adam (Kingma and Ba 2015, Algorithm 1), as ``torch.optim.Adam``.

    $$
    \begin{aligned}
    m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t \\
    v_t &= \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2 \\
    \hat m_t &= \dfrac{m_t}{1 - \beta_1^t}, \quad \hat v_t = \dfrac{v_t}{1 - \beta_2^t} \\
    x_t &= x_{t-1} - \eta\, \dfrac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}
    \end{aligned}
    $$

    Defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8. Because of the bias correction the first step
    is :math:`\eta\, \mathrm{sign}(g_1)` per coordinate, whatever the scale of the gradient.
    ``weight_decay`` adds :math:`\lambda x` to the gradient (L2, as ``torch.optim.Adam``);
    ``decoupled=True`` subtracts :math:`\eta \lambda x` from x instead (AdamW); ``amsgrad=True``
    divides by the largest :math:`\hat v` so far (AMSGrad). ``bias_correction=False`` drops the two
    corrections, to show what they are for (no library offers that). The paper also gives an efficient
    form that folds the corrections into the learning rate, with an "epsilon hat" added to
    :math:`\sqrt{v_t}`; Keras and TensorFlow implement that form, which moves eps by a factor
    :math:`\sqrt{1 - \beta_2^t}`.
    """
    lr = _lr(lr)
    beta1 = _check("beta1", beta1, 0.0, 1.0)
    beta2 = _check("beta2", beta2, 0.0, 1.0)
    eps = _check("eps", eps, 0.0, low_open=True)
    weight_decay = _check("weight_decay", weight_decay, 0.0)
    l2 = np.any(weight_decay) and not decoupled

    def update(g, state, x):
        if l2:
            g = g + weight_decay * x  # L2 penalty in the gradient
        t = state.t + 1
        m = beta1 * state.m + (1 - beta1) * g
        v = beta2 * state.v + (1 - beta2) * g * g
        v_max = np.maximum(state.v_max, v) if amsgrad else v
        m_hat = m / (1 - beta1 ** t) if bias_correction else m
        v_hat = v_max / (1 - beta2 ** t) if bias_correction else v_max
        delta = -lr * m_hat / (np.sqrt(v_hat) + eps)
        if decoupled:
            delta = delta - lr * weight_decay * x  # AdamW: decoupled
        if amsgrad:
            return delta, AMSGradState(t, m, v, v_max)
        return delta, AdamState(t, m, v)

    def init(x):
        z = np.zeros_like(x)
        return AMSGradState(0, z, z, z) if amsgrad else AdamState(0, z, z)

    def step_size(state):
        t = _t(state) if bias_correction else np.inf  # beta ** inf = 0: no correction
        return lr / (1 - beta1 ** t) / (np.sqrt(getattr(state, "v_max", state.v) / (1 - beta2 ** t)) + eps)

    name = "adamw" if decoupled else ("amsgrad" if amsgrad else "adam")
    return Optimizer(name, init, update, step_size,
                     {"lr": lr, "beta1": beta1, "beta2": beta2, "eps": eps, "weight_decay": weight_decay})


amsgrad = partial(adam, amsgrad=True)
amsgrad.__doc__ = r"""AMSGrad (Reddi, Kale and Kumar 2018), as ``torch.optim.Adam(amsgrad=True)``.

    $$
    \begin{aligned}
    m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t \\
    v_t &= \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2 \\
    v^{\max}_t &= \max(v^{\max}_{t-1},\, v_t) \\
    x_t &= x_{t-1} - \eta\, \dfrac{m_t / (1 - \beta_1^t)}{\sqrt{v^{\max}_t / (1 - \beta_2^t)} + \epsilon}
    \end{aligned}
    $$

    Adam whose denominator never shrinks. Defaults as Adam. PyTorch takes the max over the raw
    :math:`v` and then bias-corrects it; the paper has no bias correction and no eps.
    """


adamw = partial(adam, weight_decay=1e-2, decoupled=True)
adamw.__doc__ = r"""AdamW (Loshchilov and Hutter 2019), as ``torch.optim.AdamW``: Adam with decoupled weight decay.

    $$
    \begin{aligned}
    m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t \\
    v_t &= \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2 \\
    x_t &= x_{t-1} - \eta \left( \dfrac{\hat m_t}{\sqrt{\hat v_t} + \epsilon} + \lambda\, x_{t-1} \right)
    \end{aligned}
    $$

    Defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 1e-2. The decay is scaled by lr as
    in PyTorch (the paper scales it by a schedule multiplier only); Keras' default decay is 0.004.
    Unlike L2 in Adam, the decay is not divided by :math:`\sqrt{\hat v_t}`.
    """


class AdaMaxState(NamedTuple):
    t: int
    m: Any  # running average of gradients
    u: Any  # exponentially weighted infinity norm of the gradients


def adamax(lr: float = 2e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> Optimizer:
    r"""AdaMax (Kingma and Ba 2015, Algorithm 2), as ``torch.optim.Adamax``.

    $$
    \begin{aligned}
    m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t \\
    u_t &= \max(\beta_2 u_{t-1},\, |g_t| + \epsilon) \\
    x_t &= x_{t-1} - \dfrac{\eta}{1 - \beta_1^t}\, \dfrac{m_t}{u_t}
    \end{aligned}
    $$

    Defaults: lr 2e-3, betas (0.9, 0.999), eps 1e-8. The paper has no eps; PyTorch adds it inside
    the max, Keras to the denominator. Write-ups that put :math:`v` where :math:`u` belongs are wrong.
    """
    lr = _lr(lr)
    beta1 = _check("beta1", beta1, 0.0, 1.0)
    beta2 = _check("beta2", beta2, 0.0, 1.0)
    eps = _check("eps", eps, 0.0, low_open=True)

    def update(g, state, x):
        t = state.t + 1
        m = beta1 * state.m + (1 - beta1) * g
        u = np.maximum(beta2 * state.u, np.abs(g) + eps)
        return -lr / (1 - beta1 ** t) * m / u, AdaMaxState(t, m, u)

    def init(x):
        return AdaMaxState(0, np.zeros_like(x), np.zeros_like(x))

    def step_size(state):
        return lr / (1 - beta1 ** _t(state)) / np.maximum(state.u, eps)

    return Optimizer("adamax", init, update, step_size, {"lr": lr, "beta1": beta1, "beta2": beta2, "eps": eps})


class NadamState(NamedTuple):
    t: int
    mu_product: Any  # product of the momentum schedule mu_1 ... mu_t
    m: Any
    v: Any


def nadam_momentum(t, beta1: float = 0.9, momentum_decay: float = 4e-3):
    r"""Nadam's momentum schedule :math:`\mu_t = \beta_1 (1 - \tfrac12\, 0.96^{t \psi})`.

    PyTorch uses :math:`\psi` = 4e-3 (Dozat's :math:`t / 250`); Keras' :math:`0.96^t` is :math:`\psi = 1`.
    """
    return beta1 * (1 - 0.5 * 0.96 ** (np.asarray(t) * momentum_decay))


def nadam(lr: float = 2e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
          momentum_decay: float = 4e-3) -> Optimizer:
    r"""Nadam (Dozat 2016): Adam with Nesterov momentum, as ``torch.optim.NAdam``.

    $$
    \begin{aligned}
    \mu_t &= \beta_1 \left(1 - \tfrac12\, 0.96^{\,t \psi}\right) \\
    m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t \\
    v_t &= \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2 \\
    x_t &= x_{t-1} - \dfrac{\eta}{\sqrt{\hat v_t} + \epsilon}
    \left( \dfrac{(1 - \mu_t)\, g_t}{1 - \prod_{i \le t} \mu_i}
    + \dfrac{\mu_{t+1}\, m_t}{1 - \prod_{i \le t+1} \mu_i} \right)
    \end{aligned}
    $$

    Defaults: lr 2e-3, betas (0.9, 0.999), eps 1e-8, momentum_decay :math:`\psi` = 4e-3 (the
    paper's schedule with :math:`t/250`). The momentum :math:`\mu_t` warms up from about
    :math:`0.45` towards :math:`\beta_1` over thousands of steps; Keras uses :math:`0.96^{t}`,
    which reaches 0.89 in 100 steps. A Nadam with a constant momentum is not this algorithm.
    """
    lr = _lr(lr)
    beta1 = _check("beta1", beta1, 0.0, 1.0)
    beta2 = _check("beta2", beta2, 0.0, 1.0)
    eps = _check("eps", eps, 0.0, low_open=True)
    psi = _check("momentum_decay", momentum_decay, 0.0)

    def update(g, state, x):
        t = state.t + 1
        mu, mu_next = nadam_momentum(t, beta1, psi), nadam_momentum(t + 1, beta1, psi)
        mu_product = state.mu_product * mu
        m = beta1 * state.m + (1 - beta1) * g
        v = beta2 * state.v + (1 - beta2) * g * g
        denom = np.sqrt(v / (1 - beta2 ** t)) + eps
        delta = -lr * ((1 - mu) / (1 - mu_product) * g + mu_next / (1 - mu_product * mu_next) * m) / denom
        return delta, NadamState(t, mu_product, m, v)

    def init(x):
        return NadamState(0, np.ones(np.shape(beta1)), np.zeros_like(x), np.zeros_like(x))

    def step_size(state):
        return lr / (np.sqrt(state.v / (1 - beta2 ** _t(state))) + eps)

    return Optimizer("nadam", init, update, step_size,
                     {"lr": lr, "beta1": beta1, "beta2": beta2, "eps": eps, "momentum_decay": psi})


# ---------------------------------------------------------------------------------------------
# Learning-rate schedules and gradient clipping: wrappers around any optimizer
# ---------------------------------------------------------------------------------------------
# A schedule maps the step t = 1, 2, ... to a multiplier of the learning rate. Every rule above follows
# PyTorch, where the step is proportional to lr, so multiplying the step by the schedule is exactly what
# a PyTorch LR scheduler (LambdaLR) does to that optimizer.

def constant() -> Callable:
    return lambda t: np.ones_like(np.asarray(t, dtype=float))


def step_decay(every: int, factor: float = 0.5) -> Callable:
    r"""Multiply the learning rate by ``factor`` every ``every`` steps: :math:`\gamma^{\lfloor (t-1)/k \rfloor}`."""
    _check("every", every, 1.0)
    _check("factor", factor, 0.0, 1.0, low_open=True, high_open=False)
    return lambda t: factor ** ((np.asarray(t) - 1) // every)


def exponential(gamma: float) -> Callable:
    r"""Multiply by ``gamma`` each step: :math:`\gamma^{t-1}` (``gamma`` > 1 grows, as in a range test)."""
    _check("gamma", gamma, 0.0, low_open=True)
    return lambda t: gamma ** (np.asarray(t, dtype=float) - 1)


def cosine(total: int, floor: float = 0.0) -> Callable:
    r"""Cosine annealing from 1 to ``floor`` over ``total`` steps: :math:`f + (1-f)\,\tfrac12 (1 + \cos(\pi \tfrac{t-1}{T}))`."""
    _check("total", total, 1.0)
    _check("floor", floor, 0.0, 1.0, high_open=False)
    return lambda t: floor + (1 - floor) * 0.5 * (1 + np.cos(np.pi * np.minimum(np.asarray(t) - 1, total) / total))


def warmup(steps: int, after: Callable | None = None) -> Callable:
    """Linear warm-up from 1/steps to 1 over ``steps`` steps, then ``after`` (default constant) from its step 1."""
    _check("steps", steps, 1.0)
    after = after or constant()
    return lambda t: np.where(np.asarray(t) <= steps, np.asarray(t) / steps, after(np.maximum(np.asarray(t) - steps, 1)))


def cyclical(period: int, low: float = 0.1) -> Callable:
    """Triangular cycles (Smith 2017) between ``low`` and 1, ``period`` steps per cycle."""
    _check("period", period, 2.0)
    _check("low", low, 0.0, 1.0, high_open=False)
    return lambda t: low + (1 - low) * (1 - np.abs(2 * (((np.asarray(t) - 1) / period) % 1) - 1))


class ScheduledState(NamedTuple):
    t: int
    inner: Any  # the wrapped optimizer's state


def scheduled(optimizer: Optimizer, schedule: Callable) -> Optimizer:
    """``optimizer`` with its learning rate multiplied by ``schedule(t)`` at step t (PyTorch's LambdaLR)."""

    def update(g, state, x):
        t = state.t + 1
        delta, inner = optimizer.update(g, state.inner, x)
        return schedule(t) * delta, ScheduledState(t, inner)

    def step_size(state):
        return schedule(np.maximum(_t(state), 1)) * optimizer.step_size(state.inner)

    return Optimizer(optimizer.name, lambda x: ScheduledState(0, optimizer.init(x)), update, step_size,
                     optimizer.hyperparams)


def clipped(optimizer: Optimizer, max_norm: float) -> Optimizer:
    r"""``optimizer`` fed gradients clipped by norm, as ``torch.nn.utils.clip_grad_norm_``:
    :math:`g \leftarrow g \min(1, c / \|g\|)`, the norm over each run's parameters: the last axis, as in
    ``run``, where a run's parameters are its point. (Not for ``network.train``, which updates each tensor
    on its own: there the last axis is one row of a weight matrix, not torch's norm over all parameters.)"""
    max_norm = _check("max_norm", max_norm, 0.0, low_open=True)

    def update(g, state, x):
        norm = np.sqrt(np.sum(g * g, axis=-1, keepdims=True))
        return optimizer.update(g * np.minimum(1.0, max_norm / (norm + 1e-6)), state, x)

    return Optimizer(optimizer.name, optimizer.init, update, optimizer.step_size,
                     {**optimizer.hyperparams, "max_norm": max_norm})


# ---------------------------------------------------------------------------------------------
# 4. Registries
# ---------------------------------------------------------------------------------------------

SURFACES: dict[str, Surface] = {
    "quadratic": quadratic([[2.0, 0.0], [0.0, 2.0]], name="quadratic", formula=r"x^2 + y^2"),
    "valley": quadratic([[0.2, 0.0], [0.0, 4.0]], name="valley", formula=r"0.1\,x^2 + 2\,y^2",
                        bounds=((-10.0, 10.0), (-3.0, 3.0)), start=(-9.0, 2.0)),
    "saddle": saddle(),
    "double_well": double_well(),
    "rosenbrock": rosenbrock(),
}

OPTIMIZERS: dict[str, Callable[..., Optimizer]] = {
    "gd": gd,
    "momentum": momentum,
    "nesterov": nesterov,
    "adagrad": adagrad,
    "rmsprop": rmsprop,
    "adadelta": adadelta,
    "adam": adam,
    "adamax": adamax,
    "nadam": nadam,
    "amsgrad": amsgrad,
    "adamw": adamw,
}

# PyTorch's defaults where this module's differ; every other default is torch.optim's (test_optimizers
# compares them with torch's signatures). torch.optim.SGD's momentum is 0, which turns momentum off: here
# it is the 0.9 that nearly everyone sets.
PYTORCH_DEFAULTS: dict[str, dict[str, float]] = {"momentum": {"momentum": 0.0}, "nesterov": {"momentum": 0.0}}

# Hyperparameters for the 2-D demos. Only the learning rate moves away from PyTorch's defaults (the
# defaults suit networks with millions of weights and take thousands of steps here); AdaDelta has no
# real learning rate, and its eps, which sets its first steps, is raised instead.
DEMO: dict[str, dict] = {
    "gd": {"lr": 0.1},
    "momentum": {"lr": 0.1},
    "nesterov": {"lr": 0.1},
    "adagrad": {"lr": 1.5},
    "rmsprop": {"lr": 0.1},
    "adadelta": {"eps": 1e-2},
    "adam": {"lr": 0.3},
    "adamax": {"lr": 0.3},
    "nadam": {"lr": 0.3},
    "amsgrad": {"lr": 0.3},
    "adamw": {"lr": 0.3},
}


def _lookup(registry: dict, name: str, kind: str):
    if name not in registry:
        raise ValueError(f"unknown {kind} {name!r}; valid names: {', '.join(registry)}")
    return registry[name]


def get_surface(name: str) -> Surface:
    """The surface called ``name``; ``ValueError`` listing the valid names otherwise."""
    return _lookup(SURFACES, name, "surface")


def get_optimizer(name: str, **hyperparams) -> Optimizer:
    """Make the optimizer called ``name`` with ``hyperparams`` (the rest keep their defaults)."""
    return _lookup(OPTIMIZERS, name, "optimizer")(**hyperparams)


def demo(name: str, **overrides) -> Optimizer:
    """The optimizer ``name`` with the lecture's demo hyperparameters (``DEMO``), optionally overridden."""
    return get_optimizer(name, **{**DEMO.get(name, {}), **overrides})


def state_per_weight(optimizer: Optimizer) -> int:
    """How many numbers ``optimizer`` keeps per weight: the arrays its ``init`` makes for a vector of weights,
    counted by size (the step count is a scalar, not kept per weight)."""
    x = np.zeros(8)
    return sum(np.size(a) for a in optimizer.init(x) if np.ndim(a) > 0) // x.size


# ---------------------------------------------------------------------------------------------
# 5. Simulation
# ---------------------------------------------------------------------------------------------

class Trajectory(NamedTuple):
    """The result of ``run``: every point visited, start included.

    ``path`` has shape ``(..., steps + 1, 2)`` and ``loss`` ``(..., steps + 1)``, where ``...`` is
    the batch shape (empty for a single run). ``diverged`` (bool) and ``diverged_at`` (int, -1 if
    not) have the batch shape. A run that diverged at step ``k`` stopped there: ``path[..., k:, :]``
    repeats its last good point ``path[..., k - 1, :]``, so nothing returned is NaN or infinite.
    ``states`` (when recorded) is the optimizer state at every step, each field stacked like ``path``
    (time on axis -2; fields without a batch axis, such as ``t``, have shape ``(steps + 1,)``).
    """

    path: np.ndarray
    loss: np.ndarray
    diverged: np.ndarray
    diverged_at: np.ndarray
    states: Any = None

    def end(self) -> np.ndarray:
        """Where each run stopped: the last point, or the last good point of a diverged run."""
        return self.path[..., -1, :]

    def steps_to(self, tol: float, f_min: float = 0.0) -> np.ndarray:
        """The first step from which the loss stays within ``tol`` of ``f_min``; -1 if it never does
        (or the run diverged). Staying matters: a run that dips below and bounces back has not arrived."""
        above = ~(self.loss - f_min <= tol)
        n = self.loss.shape[-1]
        last_above = np.where(above.any(-1), n - 1 - np.argmax(above[..., ::-1], axis=-1), -1)
        return np.where((last_above < n - 1) & ~self.diverged, last_above + 1, -1)


def _batch_shape(start: np.ndarray, optimizer: Optimizer) -> tuple:
    shapes = [np.shape(v) for v in optimizer.hyperparams.values()]
    try:
        return np.broadcast_shapes(start.shape, *shapes)
    except ValueError:
        raise ValueError(f"start of shape {start.shape} and hyperparameter arrays of shapes {shapes} do not "
                         "broadcast; give a sweep's values a trailing axis of length 1, e.g. lr[:, None]") from None


def _sampler(data: LeastSquares | int, batch_size: int, seeds: np.ndarray):
    """Yield, step after step, the example indices for every run: shape (k, batch_size).

    ``data`` is a data set with ``n`` examples, or ``n`` itself (the network's training set).
    Each run shuffles the data at the start of each epoch with its own generator and walks through
    it in batches, without replacement; examples left over when ``batch_size`` does not divide ``n``
    are skipped for that epoch (PyTorch's ``drop_last=True``).
    """
    n = int(data) if isinstance(data, (int, np.integer)) else data.n
    rngs = [np.random.default_rng(int(s)) for s in seeds]
    per_epoch = n // batch_size
    while True:
        perms = np.stack([rng.permutation(n) for rng in rngs])
        for j in range(per_epoch):
            yield perms[:, j * batch_size:(j + 1) * batch_size]


def run(optimizer: Optimizer, problem: Surface | LeastSquares, start=None, steps: int = 100, *,
        batch_size: int | None = None, seed=0, record_state: bool = False, blowup: float = 100.0) -> Trajectory:
    """Run ``optimizer`` on ``problem`` for ``steps`` steps from ``start``; return the ``Trajectory``.

    ``problem`` is a ``Surface`` (exact gradients) or a ``LeastSquares`` data set, where
    ``batch_size`` picks the gradient: ``None`` or ``n`` for the full batch (GD), 1 for SGD, ``B``
    for mini-batches drawn without replacement. ``start`` (default: the surface's) has shape
    ``(2,)`` or ``(..., 2)`` for a batch of runs; hyperparameter arrays broadcast against it, so a
    learning-rate sweep is ``run(adam(lr=lrs[:, None]), f)``. ``seed`` (an int, or one per run)
    seeds the sampling; a scalar seed gives run ``k`` of a batch the seed ``seed + k``.

    A run diverges when a point is not finite or lies more than ``blowup`` half-widths of the
    surface's bounds away from their centre. It stops there (see ``Trajectory``); no warning is raised.
    """
    data = problem if isinstance(problem, LeastSquares) else None
    surface = data.surface if data is not None else problem
    if not isinstance(surface, Surface):
        raise ValueError(f"problem must be a Surface or a LeastSquares data set, got {type(problem).__name__}")
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    _check("blowup", blowup, 1.0, low_open=True)
    start = np.array(surface.start if start is None else start, dtype=float)
    if start.ndim == 0 or start.shape[-1] != 2:
        raise ValueError(f"start must have shape (2,) or (..., 2), got shape {start.shape}")
    if not np.all(np.isfinite(start)):
        raise ValueError("start must be finite")
    centre = np.mean(surface.bounds, axis=1)
    limit = blowup * np.ptp(surface.bounds, axis=1) / 2
    if np.any(np.abs(start - centre) > limit):
        raise ValueError(f"start lies more than blowup={blowup:g} half-widths outside the bounds {surface.bounds}")

    shape = _batch_shape(start, optimizer)
    if data is None:
        if batch_size is not None:
            raise ValueError("batch_size needs a LeastSquares problem; a Surface has exact gradients")

        def gradient(x):
            return surface.grad(x.T).T
    elif batch_size is None or batch_size == data.n:
        def gradient(x):
            return data.grad(x.T).T
    else:
        if not isinstance(batch_size, (int, np.integer)) or not 1 <= batch_size <= data.n:
            raise ValueError(f"batch_size must be an integer in [1, {data.n}] (the number of examples), got {batch_size!r}")
        k = int(np.prod(shape[:-1]))
        seeds = np.asarray(seed)
        seeds = seeds + np.arange(k) if seeds.ndim == 0 and k > 1 else seeds.reshape(-1)
        if seeds.shape != (k,):
            raise ValueError(f"seed must be an int or one per run ({k}), got shape {np.shape(seed)}")
        batches = _sampler(data, int(batch_size), seeds)

        def gradient(x):
            return data.batch_grad(x.reshape(k, 2), next(batches)).reshape(shape)

    value = data.loss if data is not None else surface.value
    # Speed, not math: glibc serves every temporary of one size from a fresh mmap (page faults at each
    # step) until a block larger than it has been freed once; allocating and freeing one here lets the
    # loop's temporaries reuse the heap (for 50,000 runs: 3,000 page faults instead of 180,000, 10% faster).
    np.empty(4 * math.prod(shape))
    # The path is stored time first and coordinate-major: points[i] has shape (2, *reversed batch shape)
    # and x = points[i].T, with the batch shape, is a view of it. Speed, not math: x.T, which the
    # surfaces get, is contiguous, their gradient comes back in x's own layout, no elementwise operation
    # mixes a row-major operand with a column-major one (up to 9 times slower), and each step writes x
    # straight into its slot.
    points = np.empty((steps + 1, 2) + shape[-2::-1])
    x = points[0].T
    x[...] = start
    state = optimizer.init(x)
    history = [state] if record_state else None
    update = optimizer.update
    with np.errstate(all="ignore"):  # a blow-up is detected below, not reported by warnings
        for i in range(1, steps + 1):
            delta, state = update(gradient(x), state, x)
            np.add(x, delta, out=points[i].T)
            x = points[i].T
            if record_state:
                history.append(state)
        losses, diverged_at = _loss_and_divergence(points, value, centre, limit, elementwise=data is None)

    path, loss = np.swapaxes(points.T, -1, -2), losses.T  # (..., steps + 1, 2), (..., steps + 1)
    diverged_at = diverged_at.T
    diverged = diverged_at >= 0
    states = None
    if record_state:
        states = _stack_states(history)
    # Freeze each diverged run at its last good point, in place (the arrays are this call's own).
    path, loss = _hold_last_good(path, diverged_at), _hold_last_good(loss, diverged_at)
    if states is not None:  # the fields with a value per run and step (not a shared step counter)
        states = _map_fields(states, lambda f: _hold_last_good(f, diverged_at) if f.ndim >= diverged_at.ndim + 2 else f)
    return Trajectory(path, loss, diverged, diverged_at, states)


def _hold_last_good(a: np.ndarray, diverged_at: np.ndarray) -> np.ndarray:
    """``a`` (the batch axes first, then time), changed in place: each diverged run keeps, from the step
    it diverged at on, the value of the step before. Only the diverged runs are touched."""
    for run in map(tuple, np.argwhere(diverged_at >= 0)):
        a[run][diverged_at[run]:] = a[run][diverged_at[run] - 1]
    return a


def _loss_and_divergence(points: np.ndarray, value: Callable, centre, limit, elementwise: bool):
    """The loss at every point ``run`` stored and, per run, the first step out of bounds (-1 if none).

    ``points`` has ``run``'s layout, ``(steps + 1, 2, *reversed batch shape)``; both results have it
    without the coordinate axis. Testing after the loop finds the step that testing during it would:
    a run that left the bounds was still computed (``run`` freezes it afterwards). The work goes a
    block of steps at a time, sized to stay in the cache. A surface's value is elementwise, so a block
    gives the very numbers one call per step gives; a ``LeastSquares`` loss is not (a matrix product
    and a mean whose rounding depend on the shape), so it goes one step at a time. A single run's
    losses, too, are computed on an array (its path), where numpy's power (``y ** 4``) can round
    differently in the last bit than on a lone scalar.
    """
    (cx, cy), (lx, ly) = np.asarray(centre).tolist(), np.asarray(limit).tolist()
    losses = np.empty(points.shape[:1] + points.shape[2:])
    diverged_at = np.full(points.shape[2:], -1)
    if losses.size == 0:  # a batch of no runs
        return losses, diverged_at
    block = max(1, 2 ** 15 // losses[0].size) if elementwise else 1
    for j in range(0, len(points), block):
        p = points[j:j + block].swapaxes(0, 1)  # (2, block, ...): p[0] is x, p[1] is y
        losses[j:j + block] = value(p) if elementwise else value(p[:, 0])
        # min and max bound every point, cheaply; NaN makes them NaN, and a comparison with NaN is False
        if cx - p[0].min() <= lx and p[0].max() - cx <= lx and cy - p[1].min() <= ly and p[1].max() - cy <= ly:
            continue
        # per coordinate, against scalars (broadcasting a (2,) array along a short axis is slow)
        outside = ~((np.abs(p[0] - cx) <= lx) & (np.abs(p[1] - cy) <= ly))
        first = (diverged_at < 0) & outside.any(axis=0)
        diverged_at[first] = j + np.argmax(outside, axis=0)[first]
    return losses, diverged_at


def replay(optimizer: Optimizer, grads, start=(0.0, 0.0), record_state: bool = False):
    """Feed ``optimizer`` a given sequence of gradients, shape ``(steps, ...)``, from ``start``; return the
    points visited, start included. For showing how a rule reacts to gradients chosen by hand (a spike,
    a sign flip), with no surface behind them. With ``record_state``, return ``(points, states)``: the
    state before the first step and after each, its fields stacked over time, as ``run`` records them."""
    x = np.array(start, dtype=float)
    state, points = optimizer.init(x), [x]
    history = [state]
    for g in np.asarray(grads, dtype=float):
        delta, state = optimizer.update(g, state, x)
        x = x + delta
        points.append(x)
        history.append(state)
    return (np.array(points), _stack_states(history)) if record_state else np.array(points)


def _is_state(value) -> bool:
    return isinstance(value, tuple) and hasattr(value, "_fields")


def _stack_states(history) -> Any:
    """A recorded history of states (a list, one per step) as one state of the same type whose fields
    are stacked over time (``_stack``); a state that wraps another (``scheduled``'s) is stacked inside."""
    if _is_state(history[0]):
        return type(history[0])(*(_stack_states(list(field)) for field in zip(*history)))
    return _stack(history)


def _map_fields(state, fn) -> Any:
    """``state`` with ``fn`` applied to each array field, inside wrapped states too."""
    if _is_state(state):
        return type(state)(*(_map_fields(field, fn) for field in state))
    return fn(state)


def _stack(values) -> np.ndarray:
    """Stack one state field over time, time on axis -2 like ``path`` (scalars: time on axis 0)."""
    arr = np.stack([np.broadcast_to(v, np.shape(v)) for v in values])
    return np.moveaxis(arr, 0, -2) if arr.ndim >= 2 else arr


# ---------------------------------------------------------------------------------------------
# 6. Tuning: each method at its own best learning rate (the race, the advice, the summary)
# ---------------------------------------------------------------------------------------------

# The race's protocol, shared by every section that quotes its results: a log-spaced sweep of
# learning rates, a budget of steps, and the loss (above the minimum) that counts as arrived.
RACE_LRS = np.geomspace(1e-3, 10.0, 49)
RACE_STEPS = 300
RACE_TOL = 1e-6


def starts_around(surface: Surface, angle: float = 20.0, scale: float = 1.25) -> np.ndarray:
    """Five starts around ``surface.start``: itself, turned by -``angle`` and +``angle`` degrees about the
    minimum, and moved ``scale`` times further from and closer to it. Shape ``(5, 2)``.

    Why: a single start lets one lucky crossing of the tolerance (an oscillation that happens to dip
    below it at the right step) win a sweep; nearby starts shift that phase, a real speed does not move."""
    _check("angle", angle, 0.0, 180.0, high_open=False)
    _check("scale", scale, 1.0, low_open=True)
    c = np.asarray(surface.minimum, dtype=float)
    d = np.asarray(surface.start, dtype=float) - c
    a = math.radians(angle)
    turn = lambda s: np.array([[math.cos(s), -math.sin(s)], [math.sin(s), math.cos(s)]])
    return c + np.stack([d, turn(-a) @ d, turn(a) @ d, scale * d, d / scale])


def tune_lr(name: str, surface: Surface, lrs=None, steps: int | None = None, tol: float | None = None,
            starts=None, **overrides) -> tuple[float, np.ndarray]:
    """The learning rate of ``lrs`` at which method ``name`` (its demo settings, with ``overrides``)
    reaches ``tol`` above the minimum of ``surface`` soonest, from every one of ``starts``.

    Returns ``(best_lr, scores)``: ``scores[i]`` is the WORST, over ``starts``, of the steps ``lrs[i]``
    needs to get within ``tol`` of ``f_min`` and stay there (``Trajectory.steps_to``), ``inf`` when some
    start does not arrive within ``steps`` (or diverges). ``best_lr`` is the smallest learning rate
    with the lowest score, ``nan`` if no learning rate arrives. Defaults: ``RACE_LRS``, ``RACE_STEPS``,
    ``RACE_TOL`` and ``starts_around(surface)``. One vectorised run of ``len(lrs) * len(starts)`` runs.
    """
    lrs = RACE_LRS if lrs is None else np.asarray(lrs, dtype=float)
    steps = RACE_STEPS if steps is None else steps
    tol = RACE_TOL if tol is None else tol
    if lrs.ndim != 1 or lrs.size == 0:
        raise ValueError(f"lrs must be a non-empty 1-D array of learning rates, got shape {lrs.shape}")
    _lr(lrs)
    _check("tol", tol, 0.0, low_open=True)
    starts = starts_around(surface) if starts is None else np.asarray(starts, dtype=float).reshape(-1, 2)
    tr = run(demo(name, lr=lrs[:, None, None], **overrides), surface, start=starts[None], steps=steps)
    reach = tr.steps_to(tol, surface.f_min)  # (len(lrs), len(starts))
    scores = np.where((reach >= 0).all(axis=1), reach.max(axis=1), np.inf).astype(float)
    best = float(lrs[int(np.argmin(scores))]) if np.isfinite(scores).any() else math.nan
    return best, scores


# The saddle demos' settings, shared by the pitfalls' slides on the saddle and on the saddle turned.
SADDLE_DEMO: dict[str, dict] = {
    "gd": {"lr": 0.1},
    "momentum": {"lr": 0.1},
    "adagrad": {"lr": 0.5},
    "rmsprop": {"lr": 0.1},
    "adam": {"lr": 0.1},
}
