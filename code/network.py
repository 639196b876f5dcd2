r"""A small neural network trained by the very update rules the slides print.

The rules in ``optimizers`` are elementwise and shape-agnostic (``init(x)`` makes ``zeros_like(x)``
state, ``update(g, state, x)`` returns ``(delta, new_state)``, hyperparameters broadcast), so the same
functions that move a point on a 2-D surface train a multilayer perceptron here, unchanged. Numpy only
(scikit-learn just loads the data): no plotting, printing or files.

* **Data**: ``digits(seed)``, scikit-learn's 1,797 handwritten 8x8 digits (shipped inside the package,
  never downloaded), split 60/20/20 into train, validation and test sets, stratified by class with a
  seeded generator; pixels (0 to 16) are divided by 16 once, so no statistic leaks from any split.
* **Network**: a ReLU MLP, 64-32-10 by default (``hidden`` sets the middle), softmax cross-entropy
  loss. Every parameter tensor carries a leading axis of ``K`` independent runs (``W1`` is
  ``(K, 64, 32)``, ``b1`` is ``(K, 32)``), so forward and backward passes, and the update rules, serve
  ``K`` runs at once with batched matrix products.
* **Training**: ``train(method, data, **hyperparams)``, mini-batches drawn as ``optimizers.run`` draws
  them (``optimizers._sampler``: reshuffled every epoch, without replacement, leftovers dropped), one
  optimizer state per parameter tensor. A hyperparameter may be an array of ``K`` values, one per run.
  Recorded per epoch: training loss, validation and test loss and accuracy (see ``Training``). A run
  whose loss or parameters blow up is marked diverged, with the epoch, and keeps its last good epoch's
  parameters and records: nothing returned is NaN, and no warning is raised.
* **Sweeps**: ``sweep(methods, lrs, seeds)`` trains methods x learning rates x seeds (one vectorised
  ``train`` per method) and picks each method's best learning rate on the validation set.

Example::

    data = digits(seed=0)
    h = train("adam", data, lr=np.array([1e-3, 3e-3, 1e-2]), epochs=20)   # K = 3 runs, one per lr
    h.test_acc[:, -1], h.diverged                                          # shapes (3,) and (3,)

Seeds: run ``k`` uses ``seed[k]`` both for its initialisation and for the order of its mini-batches;
a scalar seed is shared by all ``K`` runs (unlike ``optimizers.run``, which gives run ``k`` the seed
``seed + k``), so a learning-rate sweep compares rules from the same start on the same batches. Pass
``seed=np.arange(K)`` for independent runs.
"""
from __future__ import annotations

import concurrent.futures
import functools
import inspect
import math
import multiprocessing
import os
from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np

import optimizers as O

__all__ = ["Dataset", "digits", "init_params", "forward", "loss_and_grads", "evaluate",
           "Training", "train", "Sweep", "sweep", "LR"]

SKLEARN_PIN = "1.9.1"  # the version pinned in requirements.txt

# A learning rate per rule that trains the default 64-32-10 network on the digits well within a few
# epochs (mini-batches of 32): the best rate of ``sweep()`` (20 epochs, 3 seeds, validation accuracy) or
# the one just below it on its grid. AdaDelta's lr is PyTorch's multiplier, left at its default 1.
# The other hyperparameters keep PyTorch's defaults. The tests train every rule at its rate here.
LR: dict[str, float] = {
    "gd": 0.3,
    "momentum": 0.1,
    "nesterov": 0.1,
    "adagrad": 0.1,
    "rmsprop": 3e-3,
    "adadelta": 1.0,
    "adam": 1e-2,
    "adamax": 1e-2,
    "nadam": 1e-2,
    "amsgrad": 1e-2,
    "adamw": 1e-2,
}


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Dataset:
    """A classification problem split three ways: features ``(n, d)`` floats, labels ``(n,)`` ints in
    ``[0, classes)``. Arrays are read-only."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int

    def __post_init__(self):
        d = np.shape(self.x_train)[-1] if np.ndim(self.x_train) == 2 else None
        for split in ("train", "val", "test"):
            x = np.array(getattr(self, f"x_{split}"), dtype=float)
            y = np.array(getattr(self, f"y_{split}"))
            if x.ndim != 2 or x.shape[1] != d or x.shape[0] < 1:
                raise ValueError(f"x_{split} must have shape (n, d) with n >= 1 and the same d in every split, "
                                 f"got {x.shape}")
            if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer):
                raise ValueError(f"y_{split} must hold {x.shape[0]} integer labels, got {y.dtype} of shape {y.shape}")
            if y.min() < 0 or y.max() >= self.classes:
                raise ValueError(f"y_{split} must lie in [0, {self.classes}), got values in [{y.min()}, {y.max()}]")
            if not np.all(np.isfinite(x)):
                raise ValueError(f"x_{split} must be finite")
            x.setflags(write=False)
            y.setflags(write=False)
            object.__setattr__(self, f"x_{split}", x)
            object.__setattr__(self, f"y_{split}", y)

    @property
    def n_train(self) -> int:
        return self.x_train.shape[0]

    @property
    def features(self) -> int:
        return self.x_train.shape[1]


@functools.lru_cache(maxsize=1)
def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise ImportError("digits() needs scikit-learn, which ships the 1,797 8x8 digit images inside the "
                          f"package (nothing is downloaded); install it with `pip install scikit-learn=={SKLEARN_PIN}` "
                          "(or `pip install -r requirements.txt`)") from e
    try:
        bunch = load_digits()
    except Exception as e:  # a broken installation: the data file missing or unreadable
        raise RuntimeError(f"scikit-learn could not load its bundled digits data ({type(e).__name__}: {e}); "
                           f"reinstall it with `pip install --force-reinstall scikit-learn=={SKLEARN_PIN}`") from e
    return np.asarray(bunch.data, dtype=float), np.asarray(bunch.target, dtype=np.int64)


@functools.lru_cache(maxsize=8)
def digits(seed: int = 0, validation: float = 0.2, test: float = 0.2) -> Dataset:
    """scikit-learn's handwritten digits (1,797 images of 8x8 pixels, 10 classes) as a ``Dataset``.

    Split stratified by class: within each class, a generator seeded with ``seed`` shuffles the
    images and ``round(validation * n_c)`` go to validation, ``round(test * n_c)`` to test, the rest
    (1,079 images for seed 0, about 60%) to training. Features are the 64 pixel intensities divided by 16 (their
    maximum), a fixed scale that needs no statistic of any split. Cached: the same seed returns the
    same (read-only) object.
    """
    _check_fraction("validation", validation)
    _check_fraction("test", test)
    if validation + test >= 1:
        raise ValueError(f"validation + test must be < 1 to leave training data, got {validation} + {test}")
    x, y = _load_digits()
    rng = np.random.default_rng(seed)
    parts = {"train": [], "val": [], "test": []}
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_val, n_test = round(validation * idx.size), round(test * idx.size)
        parts["val"].append(idx[:n_val])
        parts["test"].append(idx[n_val:n_val + n_test])
        parts["train"].append(idx[n_val + n_test:])
    idx = {k: np.sort(np.concatenate(v)) for k, v in parts.items()}
    return Dataset(*(a for k in ("train", "val", "test") for a in (x[idx[k]] / 16.0, y[idx[k]])), classes=10)


def _check_fraction(name, value):
    if not (isinstance(value, (int, float)) and 0 < value < 1):
        raise ValueError(f"{name} must be a fraction in (0, 1), got {value!r}")


# ---------------------------------------------------------------------------------------------
# The network: parameters with a leading axis of K runs
# ---------------------------------------------------------------------------------------------

def _check_sizes(sizes) -> tuple[int, ...]:
    sizes = tuple(sizes)
    if len(sizes) < 2 or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 1
                                 for s in sizes):
        raise ValueError(f"sizes must be at least 2 integers >= 1 (inputs, hidden..., classes), got {sizes!r}")
    return tuple(int(s) for s in sizes)


def init_params(sizes, seed=0) -> tuple[np.ndarray, ...]:
    r"""He (Kaiming) initialisation for the layer sizes ``sizes`` (e.g. ``(64, 32, 10)``), one run per seed.

    Returns ``(W1, b1, W2, b2, ...)`` with ``W_l`` of shape ``(K, n_{l-1}, n_l)`` drawn from
    :math:`\mathcal N(0, 2 / n_{l-1})` (``torch.nn.init.kaiming_normal_`` for ReLU) and ``b_l = 0`` of
    shape ``(K, n_l)``. ``seed`` is an int (K = 1) or ``K`` ints; run ``k`` draws from
    ``default_rng([seed[k], 1])``, a stream apart from the one that orders its mini-batches, so runs
    with equal seeds start equal and different seeds give independent starts.
    """
    sizes = _check_sizes(sizes)
    seeds = _seeds(seed)
    weights = [np.empty((seeds.size, a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    for k, s in enumerate(seeds):
        rng = np.random.default_rng([int(s), 1])
        for w in weights:
            w[k] = rng.standard_normal(w.shape[1:]) * math.sqrt(2.0 / w.shape[1])
    return tuple(p for w in weights for p in (w, np.zeros((seeds.size, w.shape[2]))))


def _seeds(seed) -> np.ndarray:
    seeds = np.atleast_1d(np.asarray(seed))
    if seeds.ndim != 1 or seeds.size == 0 or not np.issubdtype(seeds.dtype, np.integer) or np.any(seeds < 0):
        raise ValueError(f"seed must be an integer >= 0 or a non-empty 1-D array of them, got {seed!r}")
    return seeds


def _check_params(params) -> int:
    params = tuple(params)
    if len(params) < 2 or len(params) % 2:
        raise ValueError(f"params must be (W1, b1, W2, b2, ...), got {len(params)} arrays")
    k = np.shape(params[0])[0] if np.ndim(params[0]) == 3 else None
    for i in range(0, len(params), 2):
        w, b = np.shape(params[i]), np.shape(params[i + 1])
        if len(w) != 3 or w[0] != k or b != (k, w[2]) or (i and w[1] != np.shape(params[i - 2])[2]):
            raise ValueError(f"layer {i // 2 + 1}: W must be (K, n_in, n_out) chaining the previous layer and b "
                             f"(K, n_out), with the same K = {k}, got W {w} and b {b}")
    return k


# Speed, not math: OpenBLAS hands a product of more than 2^18 multiply-adds to its threads, which then
# spin between calls and, on a 2-core machine, slow the many small products of training by 3x or more
# (the benchmark's sweep: 1.4 s of CPU instead of 5.5 s, and far less wall time under load). So large
# products (the evaluation on whole splits) are computed in blocks of rows below that size.
_BLAS_SINGLE_THREAD = 2 ** 18


def _layer(h, w, b):
    """``h @ w + b`` for ``K`` runs; ``h`` is ``(K, B, n)``, or ``(B, n)`` shared by all runs."""
    rows = max(1, _BLAS_SINGLE_THREAD // (w.shape[1] * w.shape[2]))
    if h.shape[-2] <= rows:
        return np.matmul(h, w) + b[:, None, :]
    out = np.empty(w.shape[:1] + h.shape[-2:-1] + w.shape[2:])
    for i in range(0, h.shape[-2], rows):
        np.matmul(h[..., i:i + rows, :], w, out=out[:, i:i + rows])
    out += b[:, None, :]
    return out


def forward(params, x) -> np.ndarray:
    """The logits ``(K, B, classes)`` for inputs ``x`` of shape ``(K, B, d)`` (one batch per run) or
    ``(B, d)`` (the same examples for every run)."""
    _check_params(params)
    return _forward(params, np.asarray(x, dtype=float))[-1]


def _forward(params, x):
    """Every layer's output: the ReLU activations, then the logits."""
    acts = [x]
    for i in range(0, len(params), 2):
        z = _layer(acts[-1], params[i], params[i + 1])
        acts.append(np.maximum(z, 0.0) if i + 2 < len(params) else z)
    return acts


def _cross_entropy(logits, y, probabilities=True):
    r"""Softmax cross-entropy per example, shape ``(K, B)``, and (if asked) the softmax probabilities,
    stable for any logits: :math:`\ell = \log \sum_j e^{z_j - \max z} - (z_y - \max z)`.
    ``y`` is ``(K, B)`` or ``(B,)``."""
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=-1)
    losses = np.log(s) - z[np.arange(z.shape[0])[:, None], np.arange(z.shape[1]), y]
    if probabilities:
        e /= s[..., None]
    return losses, e


def loss_and_grads(params, x, y) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    r"""Mean cross-entropy over the batch, per run (shape ``(K,)``), and its gradient for every tensor.

    Backpropagation: :math:`\delta_L = (\mathrm{softmax}(z_L) - \mathrm{onehot}(y)) / B`, then
    :math:`\nabla W_l = h_{l-1}^\top \delta_l`, :math:`\nabla b_l = \sum_{\text{batch}} \delta_l`,
    :math:`\delta_{l-1} = (\delta_l W_l^\top) \odot [z_{l-1} > 0]`. ``x`` is ``(K, B, d)`` or ``(B, d)``,
    ``y`` is ``(K, B)`` or ``(B,)`` integer labels.
    """
    k = _check_params(params)
    x, y = np.asarray(x, dtype=float), np.asarray(y)
    batch = x.shape[:-1] if x.ndim == 3 else (k,) + x.shape[:-1]
    if x.ndim not in (2, 3) or x.shape[-1] != params[0].shape[1] or (x.ndim == 3 and x.shape[0] != k):
        raise ValueError(f"x must have shape (K, B, {params[0].shape[1]}) or (B, {params[0].shape[1]}) "
                         f"with K = {k}, got {x.shape}")
    if y.shape not in (batch, batch[1:]) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must hold integer labels of shape {batch} or {batch[1:]}, got {y.dtype} {y.shape}")
    return _loss_and_grads(params, x, y)


def _loss_and_grads(params, x, y):
    acts = _forward(params, x)
    losses, p = _cross_entropy(acts[-1], y)
    k, b = p.shape[:2]
    p[np.arange(k)[:, None], np.arange(b), y] -= 1.0  # softmax - onehot
    delta = p / b
    grads = []
    for i in range(len(params) - 2, -1, -2):
        h = acts[i // 2]
        gw = np.matmul(h.transpose(0, 2, 1), delta) if h.ndim == 3 else np.matmul(h.T, delta)
        grads += [delta.sum(axis=1), gw]
        if i:
            delta = np.matmul(delta, params[i].transpose(0, 2, 1))
            delta *= h > 0
    return losses.mean(axis=-1), tuple(grads[::-1])


def evaluate(params, x, y) -> tuple[np.ndarray, np.ndarray]:
    """Mean cross-entropy and accuracy per run, shapes ``(K,)``, on the examples ``x`` ``(n, d)``, ``y`` ``(n,)``
    shared by all runs."""
    _check_params(params)
    return _evaluate(params, np.asarray(x, dtype=float), np.asarray(y))


def _evaluate(params, x, y):
    losses, right = _scores(params, x, y)
    return losses.mean(axis=-1), right.mean(axis=-1)


def _scores(params, x, y):
    """Per-example loss and correctness, shapes ``(K, n)``."""
    logits = _forward(params, x)[-1]
    losses, _ = _cross_entropy(logits, y, probabilities=False)
    return losses, logits.argmax(axis=-1) == y


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------

class Training(NamedTuple):
    """The result of ``train``, for ``K`` runs over ``epochs`` epochs; epoch 0 is the initialisation.

    ``train_loss`` ``(K, epochs + 1)``: at 0 the full training loss at initialisation, at epoch
    ``e`` the mean of that epoch's mini-batch losses (what Keras and most training logs report; free to
    compute, whereas a full pass would cost as much as training). ``val_loss``, ``val_acc``,
    ``test_loss``, ``test_acc`` ``(K, epochs + 1)``: on the whole split with the parameters at the end
    of each epoch. ``diverged`` (bool) and ``diverged_at`` (the epoch, -1 if not) have shape ``(K,)``:
    a diverged run stopped at the end of its last good epoch, and every record from ``diverged_at`` on
    repeats that epoch's, so nothing returned is NaN or infinite. ``params``: the final (last good)
    parameters ``(W1, b1, ...)``.
    """

    train_loss: np.ndarray
    val_loss: np.ndarray
    val_acc: np.ndarray
    test_loss: np.ndarray
    test_acc: np.ndarray
    diverged: np.ndarray
    diverged_at: np.ndarray
    params: tuple


def _factory(method) -> Callable[..., O.Optimizer]:
    if isinstance(method, str):
        return O._lookup(O.OPTIMIZERS, method, "optimizer")
    if isinstance(method, O.Optimizer) or not callable(method):
        raise ValueError("method must be an optimizer name or a factory such as optimizers.adam (called here with "
                         f"the hyperparameters, once per parameter shape), got {type(method).__name__}")
    return method


def _runs(hyperparams: dict, seeds: np.ndarray) -> int:
    """K: the common length of the 1-D hyperparameter arrays and of the seeds (1 if all are scalars)."""
    lengths = {name: np.shape(v)[0] for name, v in hyperparams.items() if np.ndim(v) == 1}
    for name, v in hyperparams.items():
        if np.ndim(v) > 1:
            raise ValueError(f"hyperparameter {name} must be a scalar or a 1-D array (one value per run), "
                             f"got shape {np.shape(v)}")
    lengths["seed"] = seeds.size
    k = max(lengths.values())
    bad = {n: m for n, m in lengths.items() if m not in (1, k)}
    if bad:
        raise ValueError(f"hyperparameter arrays and seed must have one value per run or be scalars; "
                         f"got lengths {lengths}")
    return k


def _optimizers(factory, hyperparams: dict, k: int, ndims) -> dict[int, O.Optimizer]:
    """One optimizer per tensor rank, each with the 1-D hyperparameters shaped ``(K, 1, ...)`` to
    broadcast against tensors of that rank (``(K, 1, 1)`` for weights, ``(K, 1)`` for biases)."""
    try:
        sig = inspect.signature(factory)
        takes_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        names = [n for n, p in sig.parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    except (TypeError, ValueError):  # no signature to read: let the factory itself complain
        takes_any, names = True, []
    unknown = [n for n in hyperparams if n not in names]
    if unknown and not takes_any:
        raise ValueError(f"unknown hyperparameter(s) {', '.join(unknown)}; this optimizer takes: {', '.join(names)}")
    out = {}
    for nd in sorted(set(ndims)):
        shaped = {n: np.broadcast_to(np.asarray(v, dtype=float), (k,)).reshape((k,) + (1,) * (nd - 1))
                  if np.ndim(v) == 1 else v for n, v in hyperparams.items()}
        out[nd] = factory(**shaped)
        if not isinstance(out[nd], O.Optimizer):
            raise ValueError(f"method must make an optimizers.Optimizer, got {type(out[nd]).__name__}")
    return out


def train(method, data: Dataset | None = None, *, hidden=(32,), epochs: int = 20, batch_size: int = 32,
          seed=0, blowup: float = 100.0, **hyperparams) -> Training:
    """Train ``K`` networks of layers ``(features, *hidden, classes)`` with ``method``; return the ``Training``.

    ``method`` is a name in ``optimizers.OPTIMIZERS`` or a factory such as ``optimizers.adam`` (or a
    ``functools.partial`` of one); it is called with ``hyperparams`` (the rest keep their defaults) and
    its ``init``/``update`` pair runs unchanged, one state per parameter tensor. A hyperparameter, or
    ``seed``, may be a 1-D array of ``K`` values, one per run; scalars are shared. ``data`` defaults to
    ``digits(0)``. Each epoch is ``n_train // batch_size`` steps on mini-batches drawn by
    ``optimizers._sampler`` (reshuffled per epoch from the run's seed, without replacement, leftovers
    dropped).

    A run diverges in the epoch where a mini-batch loss or a parameter is not finite, or a mini-batch
    loss exceeds ``blowup`` times the run's initial training loss. No warning is raised.
    """
    data = digits(0) if data is None else data
    if not isinstance(data, Dataset):
        raise ValueError(f"data must be a Dataset (see digits()), got {type(data).__name__}")
    factory = _factory(method)
    if not isinstance(epochs, (int, np.integer)) or isinstance(epochs, bool) or epochs < 0:
        raise ValueError(f"epochs must be an integer >= 0, got {epochs!r}")
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) \
            or not 1 <= batch_size <= data.n_train:
        raise ValueError(f"batch_size must be an integer in [1, {data.n_train}] (the training examples), "
                         f"got {batch_size!r}")
    O._check("blowup", blowup, 1.0, low_open=True)
    hidden = (hidden,) if isinstance(hidden, (int, np.integer)) else tuple(hidden)
    if not all(isinstance(h, (int, np.integer)) and not isinstance(h, bool) and h >= 1 for h in hidden):
        raise ValueError(f"hidden must be a sequence of layer widths, integers >= 1, got {hidden!r}")
    sizes = (data.features, *hidden, data.classes)
    seeds = _seeds(seed)
    k = _runs(hyperparams, seeds)
    seeds = np.broadcast_to(seeds, (k,))
    params = list(init_params(sizes, seeds))
    opts = _optimizers(factory, hyperparams, k, [p.ndim for p in params])
    states = [opts[p.ndim].init(p) for p in params]

    x, y = data.x_train, data.y_train
    steps = data.n_train // batch_size
    batches = O._sampler(data.n_train, int(batch_size), seeds)
    records = {name: np.empty((epochs + 1, k)) for name in Training._fields[:5]}
    diverged_at = np.full(k, -1)
    x_held, y_held = np.concatenate([data.x_val, data.x_test]), np.concatenate([data.y_val, data.y_test])
    n_val = data.y_val.size

    def evaluate_on_held_out(params, epoch):  # validation and test in one forward pass
        losses, right = _scores(params, x_held, y_held)
        for name, part in (("val", slice(None, n_val)), ("test", slice(n_val, None))):
            records[f"{name}_loss"][epoch] = losses[:, part].mean(axis=1)
            records[f"{name}_acc"][epoch] = right[:, part].mean(axis=1)

    with np.errstate(all="ignore"):  # a blow-up is detected here, not reported by warnings
        records["train_loss"][0], _ = _evaluate(params, x, y)
        evaluate_on_held_out(params, 0)
        limit = blowup * records["train_loss"][0]
        good = [p.copy() for p in params]  # each run's parameters at the end of its last good epoch
        for epoch in range(1, epochs + 1):
            total, worst = np.zeros(k), np.zeros(k)
            for _ in range(steps):
                idx = next(batches)
                loss, grads = _loss_and_grads(params, x[idx], y[idx])
                total += loss
                np.fmax(worst, loss, out=worst)
                for i, (p, g) in enumerate(zip(params, grads)):
                    delta, states[i] = opts[p.ndim].update(g, states[i], p)
                    params[i] = p + delta
            bad = ~(np.isfinite(total) & (worst <= limit))
            for p in params:
                bad |= ~np.isfinite(p.reshape(k, -1).sum(axis=1))  # a sum is NaN or inf if any term is
            diverged_at[bad & (diverged_at < 0)] = epoch
            alive = diverged_at < 0
            for g, p in zip(good, params):
                g[alive] = p[alive]
            records["train_loss"][epoch] = total / steps
            evaluate_on_held_out(good, epoch)

    diverged = diverged_at >= 0
    # from the epoch it diverged, a run repeats its last good epoch (as optimizers.run)
    out = {name: O._hold_last_good(r.T, diverged_at) for name, r in records.items()}
    return Training(**out, diverged=diverged, diverged_at=diverged_at, params=tuple(good))


# ---------------------------------------------------------------------------------------------
# Sweeps: methods x learning rates x seeds
# ---------------------------------------------------------------------------------------------

def _map(fn, jobs) -> list:
    """``[fn(*args, **kwargs) for args, kwargs in jobs]``, computed in forked worker processes, one per core,
    where the platform forks and there are two or more cores and jobs; else here, one after another. The
    jobs must be independent and deterministic (as ``train`` is): then both ways give the same results.
    Training runs its products on one thread (``_BLAS_SINGLE_THREAD``), so the workers do not compete."""
    workers = min(len(jobs), os.cpu_count() or 1)
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return [fn(*args, **kwargs) for args, kwargs in jobs]
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        futures = [pool.submit(fn, *args, **kwargs) for args, kwargs in jobs]
        return [f.result() for f in futures]


class Sweep(NamedTuple):
    """The result of ``sweep``: ``M`` methods x ``L`` learning rates x ``S`` seeds.

    ``methods`` (names), ``lrs`` ``(M, L)``, ``seeds`` ``(S,)``. The records, as in ``Training``, have
    shape ``(M, L, S, epochs + 1)``; ``diverged`` and ``diverged_at`` ``(M, L, S)``. ``best`` ``(M,)``
    indexes each method's best learning rate, ``best_lr`` is that rate: the highest validation accuracy
    at the last epoch, averaged over seeds, among the rates where no seed diverged (ties: the lower mean
    validation loss). A method whose every rate diverged has ``best`` -1 and ``best_lr`` NaN.
    The test set plays no part in the choice. ``best_params`` are the final (last good) parameters
    ``(W1, b1, ...)`` of each method's runs at its best rate, each ``(M, S, ...)`` (NaN where every rate
    diverged): those ``train`` returns at ``best_lr``, so the chosen runs need not be trained again.
    """

    methods: tuple
    lrs: np.ndarray
    seeds: np.ndarray
    train_loss: np.ndarray
    val_loss: np.ndarray
    val_acc: np.ndarray
    test_loss: np.ndarray
    test_acc: np.ndarray
    diverged: np.ndarray
    diverged_at: np.ndarray
    best: np.ndarray
    best_lr: np.ndarray
    best_params: tuple


def sweep(methods=tuple(O.OPTIMIZERS), lrs=None, seeds=(0, 1, 2), data: Dataset | None = None, *,
          hyperparams: dict | None = None, trainer: Callable[..., Training] | None = None, **train_args) -> Sweep:
    """Train every method at every learning rate from every seed; pick each method's best rate on validation.

    ``lrs`` is one 1-D grid for all methods, or a dict giving each method its own grid (the same length
    for all); by default ``LR[method]`` times 0.1, 0.3, 1, 3 and 10. ``hyperparams`` maps a method
    name to its other, fixed hyperparameters. ``train_args`` go to ``train`` (``epochs``, ``batch_size``,
    ``hidden``, ``blowup``). Each method is one vectorised ``train`` call of ``L * S`` runs; runs with the
    same seed share their initialisation and mini-batches, whatever the rate. The methods are trained at
    the same time, one per core (``_map``): each ``train`` is deterministic, so the result is the same.
    ``trainer`` trains one method's runs in ``train``'s place, called as it is: the deck passes
    ``cache.memoized(train)``, so that a method's runs trained once, by any sweep with the
    same grid, seeds and settings, are read back from the build cache instead of trained again.
    """
    methods = (methods,) if isinstance(methods, str) else tuple(methods)
    for m in methods:
        O._lookup(O.OPTIMIZERS, m, "optimizer")
    if not methods:
        raise ValueError("methods must name at least one optimizer")
    if lrs is None:
        lrs = {m: LR[m] * np.array([0.1, 0.3, 1.0, 3.0, 10.0]) for m in methods}
    if isinstance(lrs, dict):
        missing = [m for m in methods if m not in lrs]
        if missing:
            raise ValueError(f"lrs must give a grid for every method; missing: {', '.join(missing)}")
    rows = [lrs[m] for m in methods] if isinstance(lrs, dict) else [lrs] * len(methods)
    try:
        grid = np.array(rows, dtype=float)
    except ValueError:
        grid = np.empty((0,))
    if grid.ndim != 2 or grid.shape[1] < 1:
        raise ValueError("lrs must be one non-empty 1-D grid of learning rates, or one per method, all of the same "
                         f"length; got {lrs!r}")
    seeds = _seeds(seeds)
    hyperparams = hyperparams or {}
    n_l, n_s = grid.shape[1], seeds.size
    jobs = []
    for m, row in zip(methods, grid):
        extra = hyperparams.get(m, {})
        if "lr" in extra:
            raise ValueError(f"hyperparams[{m!r}] must not set lr: the sweep sets it")
        jobs.append(((m, data), dict(lr=np.repeat(row, n_s), seed=np.tile(seeds, n_l), **extra, **train_args)))
    runs = _map(train if trainer is None else trainer, jobs)
    fields = {name: np.stack([getattr(r, name).reshape((n_l, n_s) + getattr(r, name).shape[1:]) for r in runs])
              for name in Training._fields[:7]}
    final_acc = fields["val_acc"][..., -1].mean(axis=2)  # (M, L)
    final_loss = fields["val_loss"][..., -1].mean(axis=2)
    ok = ~fields["diverged"].any(axis=2)
    best = np.full(len(methods), -1)
    for i in range(len(methods)):
        cand = np.flatnonzero(ok[i])
        if cand.size:  # the highest accuracy first, then the lower loss
            best[i] = cand[np.lexsort((final_loss[i, cand], -final_acc[i, cand]))[0]]
    best_lr = np.where(best >= 0, grid[np.arange(len(methods)), np.maximum(best, 0)], np.nan)
    chosen = [slice(b * n_s, (b + 1) * n_s) if b >= 0 else None for b in best]  # runs are rate-major
    best_params = tuple(np.stack([r.params[k][c] if c is not None else np.full_like(r.params[k][:n_s], np.nan)
                                  for r, c in zip(runs, chosen)]) for k in range(len(runs[0].params)))
    return Sweep(methods, grid, seeds, **fields, best=best, best_lr=best_lr, best_params=best_params)
