"""The network: gradients against finite differences, K runs together against one by one, every rule
trains, divergence is caught, the data split, the sweep's choice, and bad input."""
import itertools
import pathlib
import re
import sys
import warnings

import numpy as np
import pytest

import network as N
import optimizers as O

DATA = N.digits(0)
ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def no_warnings():
    """Every test here runs with warnings as errors: an overflow in a diverging run must not leak out."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def _records(h):
    return [h.train_loss, h.val_loss, h.val_acc, h.test_loss, h.test_acc]


# --- gradients --------------------------------------------------------------------------------

def _finite_differences(params, x, y, eps=1e-6):
    """Central differences of the loss, run by run, for every entry of every tensor."""
    grads = []
    for p in params:
        g = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + eps
            up = N.loss_and_grads(params, x, y)[0][i[0]]
            p[i] = old - eps
            down = N.loss_and_grads(params, x, y)[0][i[0]]
            p[i] = old
            g[i] = (up - down) / (2 * eps)
        grads.append(g)
    return grads


@pytest.mark.parametrize("shared_inputs", [False, True])
def test_gradients_equal_central_finite_differences(shared_inputs):
    rng = np.random.default_rng(0)
    params = [p + 0.1 * rng.standard_normal(p.shape) for p in N.init_params((5, 4, 3, 3), seed=[1, 2])]  # nonzero biases
    x = rng.standard_normal((6, 5) if shared_inputs else (2, 6, 5))
    y = rng.integers(0, 3, size=(6,) if shared_inputs else (2, 6))
    loss, grads = N.loss_and_grads(params, x, y)
    assert loss.shape == (2,) and [g.shape for g in grads] == [p.shape for p in params]
    for name, g, fd in zip(["W1", "b1", "W2", "b2", "W3", "b3"], grads, _finite_differences(params, x, y)):
        err = np.linalg.norm(g - fd) / np.linalg.norm(g + fd)
        assert err < 1e-6, f"{name}: relative error {err:.2e}"


def test_loss_is_the_mean_cross_entropy_and_stable_for_huge_logits():
    params = list(N.init_params((2, 3, 3), seed=[0]))
    x = np.array([[0.5, -1.0], [2.0, 0.3]])
    y = np.array([2, 0])
    logits = N.forward(params, x)[0]
    expected = np.mean([np.log(np.sum(np.exp(z))) - z[c] for z, c in zip(logits, y)])
    np.testing.assert_allclose(N.loss_and_grads(params, x, y)[0], [expected], rtol=1e-13)
    # logits of order 1e4 overflow a naive exp (it gives inf or nan); log-sum-exp stays exact
    big = [p * 100.0 for p in params]
    logits = N.forward(big, x)[0]
    loss, grads = N.loss_and_grads(big, x, y)
    expected = np.mean([np.logaddexp.reduce(z) - z[c] for z, c in zip(logits, y)])
    assert np.abs(logits).max() > 1e3 and expected > 1e3
    np.testing.assert_allclose(loss, [expected], rtol=1e-13)
    assert all(np.all(np.isfinite(g)) for g in grads)


def test_he_initialisation_and_seeds():
    w1, b1, w2, b2 = N.init_params((64, 32, 10), seed=[3, 3, 4])
    assert w1.shape == (3, 64, 32) and b1.shape == (3, 32) and w2.shape == (3, 32, 10) and b2.shape == (3, 10)
    np.testing.assert_array_equal(w1[0], w1[1])  # equal seeds, equal starts: a sweep compares like with like
    assert not np.allclose(w1[0], w1[2])
    assert np.all(b1 == 0) and np.all(b2 == 0)
    np.testing.assert_allclose(w1[0].std(), np.sqrt(2 / 64), rtol=0.08)  # 2,048 draws: a few % of noise
    np.testing.assert_allclose(w2[0].std(), np.sqrt(2 / 32), rtol=0.15)
    np.testing.assert_array_equal(N.init_params((64, 32, 10), seed=4)[0][0], w1[2])


# --- the training loop ------------------------------------------------------------------------

def test_sampler_takes_an_example_count_and_is_unchanged_for_data():
    data = O.least_squares(O.SURFACES["valley"], n=10)
    by_count = list(itertools.islice(O._sampler(10, 3, np.array([5, 6])), 7))
    by_data = list(itertools.islice(O._sampler(data, 3, np.array([5, 6])), 7))
    np.testing.assert_array_equal(by_count, by_data)
    perm = np.random.default_rng(5).permutation(10)
    np.testing.assert_array_equal([b[0] for b in by_count[:3]], [perm[0:3], perm[3:6], perm[6:9]])  # 10th dropped


def test_train_is_the_rule_applied_by_hand():
    """One state per tensor, the unchanged init/update pair, the sampler's batches: written out longhand."""
    h = N.train("adam", DATA, lr=3e-3, epochs=2, batch_size=50, seed=7)
    params = list(N.init_params((64, 32, 10), seed=[7]))
    opt = O.adam(lr=3e-3)
    states = [opt.init(p) for p in params]
    batches = O._sampler(DATA.n_train, 50, np.array([7]))
    for _ in range(2 * (DATA.n_train // 50)):
        idx = next(batches)
        _, grads = N.loss_and_grads(params, DATA.x_train[idx], DATA.y_train[idx])
        for i, g in enumerate(grads):
            delta, states[i] = opt.update(g, states[i], params[i])
            params[i] = params[i] + delta
    for p, q in zip(h.params, params):
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-15)
    loss, acc = N.evaluate(params, DATA.x_test, DATA.y_test)
    np.testing.assert_allclose(h.test_loss[:, -1], loss, rtol=1e-12)
    np.testing.assert_allclose(h.test_acc[:, -1], acc)


@pytest.mark.parametrize("method, hyper, diverged", [
    ("momentum", dict(lr=[0.05, 0.1, 0.2, 1e3]), [False, False, False, True]),  # lr 1e3 blows up, the rest do not mind
    ("adamw", dict(lr=[1e-3, 1e-2, 1e-2, 1e-2], weight_decay=[0.0, 0.0, 0.1, 0.5]), [False] * 4)])
def test_runs_trained_together_equal_runs_trained_one_by_one(method, hyper, diverged):
    seeds = np.array([0, 1, 2, 2])
    together = N.train(method, DATA, epochs=3, seed=seeds, **{k: np.array(v) for k, v in hyper.items()})
    assert together.train_loss.shape == (4, 4) and together.diverged.shape == (4,)
    for k in range(4):
        alone = N.train(method, DATA, epochs=3, seed=int(seeds[k]), **{n: v[k] for n, v in hyper.items()})
        for a, b in zip(_records(together), _records(alone)):
            np.testing.assert_allclose(a[k], b[0], rtol=1e-12)
        for a, b in zip(together.params, alone.params):
            np.testing.assert_allclose(a[k], b[0], rtol=1e-12, atol=1e-15)
        assert together.diverged_at[k] == alone.diverged_at[0]
    assert together.diverged.tolist() == diverged


def test_training_is_reproducible_and_lowers_the_loss():
    a = N.train("momentum", DATA, lr=0.05, epochs=3, seed=11)
    b = N.train("momentum", DATA, lr=0.05, epochs=3, seed=11)
    c = N.train("momentum", DATA, lr=0.05, epochs=3, seed=12)
    for x, y in zip(_records(a) + list(a.params), _records(b) + list(b.params)):
        np.testing.assert_array_equal(x, y)
    assert not np.allclose(a.params[0], c.params[0])
    assert np.all(np.diff(a.train_loss[0]) < 0) and a.train_loss[0, -1] < 0.5 * a.train_loss[0, 0]
    assert a.val_acc[0, -1] > 0.8 and not a.diverged[0]


def test_full_batch_is_gradient_descent_on_the_whole_training_set():
    h = N.train("gd", DATA, lr=0.5, epochs=3, batch_size=DATA.n_train, seed=2)
    params = list(N.init_params((64, 32, 10), seed=2))
    for _ in range(3):
        loss, grads = N.loss_and_grads(params, DATA.x_train, DATA.y_train)
        params = [p - 0.5 * g for p, g in zip(params, grads)]
    for p, q in zip(h.params, params):
        np.testing.assert_allclose(p, q, rtol=1e-10, atol=1e-13)  # the shuffled order only moves round-off


@pytest.mark.parametrize("name", list(O.OPTIMIZERS))
def test_every_rule_trains_the_network_at_its_rate(name):
    assert set(N.LR) == set(O.OPTIMIZERS)
    h = N.train(name, DATA, lr=N.LR[name], epochs=5, seed=[0, 1])
    assert not h.diverged.any()
    assert all(np.all(np.isfinite(r)) for r in _records(h))
    assert np.all(h.train_loss[:, -1] < 0.5 * h.train_loss[:, 0])
    assert np.all(h.test_acc[:, -1] > 0.85), h.test_acc[:, -1]  # chance is 0.1


@pytest.mark.parametrize("lr, blowup", [(1e3, 100.0),  # the loss explodes past blowup x its start
                                        (1e200, 1e300)])  # the parameters and loss overflow to inf and nan
def test_a_diverging_rate_is_reported_without_nan_or_warning(lr, blowup):
    h = N.train("gd", DATA, lr=np.array([0.3, lr]), epochs=3, seed=0, blowup=blowup)
    assert h.diverged.tolist() == [False, True] and h.diverged_at.tolist() == [-1, 1]
    assert all(np.all(np.isfinite(r)) for r in _records(h)) and all(np.all(np.isfinite(p)) for p in h.params)
    for r in _records(h):  # from the epoch it diverged on, the run repeats its last good epoch (here: the start)
        np.testing.assert_array_equal(r[1, 1:], r[1, 0])
    for p, p0 in zip(h.params, N.init_params((64, 32, 10), seed=0)):
        np.testing.assert_array_equal(p[1], p0[0])
    assert h.val_acc[0, -1] > 0.8


def test_a_loss_blowup_counts_as_divergence():
    """A finite but exploding loss is caught by ``blowup`` before it reaches infinity."""
    h = N.train("gd", DATA, lr=np.array([0.3, 5.0]), epochs=2, seed=0, blowup=1.5)
    assert h.diverged.tolist() == [False, True]
    assert not N.train("gd", DATA, lr=5.0, epochs=2, seed=0).diverged[0]  # the default threshold lets it be


def test_zero_epochs_records_the_start():
    h = N.train("adam", DATA, lr=1e-3, epochs=0, seed=[0, 1])
    assert h.train_loss.shape == (2, 1)
    np.testing.assert_allclose(h.test_acc[:, 0], N.evaluate(N.init_params((64, 32, 10), seed=[0, 1]),
                                                           DATA.x_test, DATA.y_test)[1])


def test_a_factory_and_other_layer_sizes():
    h = N.train(O.nesterov, DATA, hidden=(16, 8), lr=0.05, momentum=np.array([0.5, 0.9]), epochs=2)
    assert [p.shape for p in h.params] == [(2, 64, 16), (2, 16), (2, 16, 8), (2, 8), (2, 8, 10), (2, 10)]
    same = N.train("nesterov", DATA, hidden=(16, 8), lr=0.05, momentum=np.array([0.5, 0.9]), epochs=2)
    np.testing.assert_array_equal(h.val_loss, same.val_loss)


# --- data -------------------------------------------------------------------------------------

def test_digits_split():
    d = DATA
    assert (d.n_train, d.y_val.size, d.y_test.size) == (1079, 359, 359) and d.features == 64 and d.classes == 10
    x_all = np.concatenate([d.x_train, d.x_val, d.x_test])
    assert x_all.min() == 0.0 and x_all.max() == 1.0  # pixels 0..16, divided by 16
    rows = {r.tobytes() for r in x_all}
    assert len(rows) > 1700  # the splits hold (almost all) distinct images: nothing is reused
    counts = [np.bincount(y, minlength=10) for y in (d.y_train, d.y_val, d.y_test)]
    assert np.all(np.abs(counts[1] - counts[1].mean()) <= 1.5) and np.all(counts[0] > 5 * counts[1] // 2)  # stratified
    assert not d.x_train.flags.writeable and N.digits(0) is d
    other = N.digits(1)
    assert not np.array_equal(other.y_val, d.y_val) and other.n_train == d.n_train


def test_digits_splits_are_disjoint():
    from sklearn.datasets import load_digits
    raw = load_digits().data / 16.0
    index = {r.tobytes(): i for i, r in enumerate(raw)}  # duplicates of an image keep one index
    parts = [[index[r.tobytes()] for r in x] for x in (DATA.x_train, DATA.x_val, DATA.x_test)]
    assert sum(map(len, parts)) == 1797
    # an image appears in only one split unless scikit-learn ships it twice
    dup = len(raw) - len(index)
    assert len(set(parts[0]) & set(parts[1])) + len(set(parts[0]) & set(parts[2])) + len(set(parts[1]) & set(parts[2])) <= dup


def test_missing_scikit_learn_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    N._load_digits.cache_clear()
    N.digits.cache_clear()
    try:
        with pytest.raises(ImportError, match=re.escape(f"pip install scikit-learn=={N.SKLEARN_PIN}")):
            N.digits(3)
    finally:
        N._load_digits.cache_clear()
        N.digits.cache_clear()
    requirements = (ROOT / "requirements.txt").read_text()
    assert re.search(rf"^scikit-learn=={re.escape(N.SKLEARN_PIN)}(\s|$)", requirements, re.M), "the pin in requirements.txt differs"


# --- the sweep --------------------------------------------------------------------------------

def test_sweep_shapes_equal_train_and_picks_on_validation():
    lrs = {"gd": [0.03, 0.3, 1e3], "adam": [1e-4, 1e-2, 10.0]}
    s = N.sweep(["gd", "adam"], lrs, seeds=[0, 1], data=DATA, epochs=2)
    assert s.val_acc.shape == (2, 3, 2, 3) and s.diverged.shape == (2, 3, 2) and s.lrs.shape == (2, 3)
    one = N.train("gd", DATA, lr=0.3, seed=1, epochs=2)
    np.testing.assert_allclose(s.val_loss[0, 1, 1], one.val_loss[0], rtol=1e-12)
    assert s.diverged[0, 2].all() and not s.diverged[0, :2].any()
    final = s.val_acc[..., -1].mean(axis=2)
    for m in range(2):
        ok = ~s.diverged[m].any(axis=1)
        assert s.best[m] == np.flatnonzero(ok)[np.argmax(final[m, ok])]
    assert s.best.tolist() == [1, 1] and s.best_lr.tolist() == [0.3, 1e-2]
    # the chosen runs' final weights: those of training again at the best rate, for every seed
    again = N.train("adam", DATA, lr=1e-2, seed=np.array([0, 1]), epochs=2)
    assert len(s.best_params) == len(again.params)
    for chosen, trained in zip(s.best_params, again.params):
        assert chosen.shape == (2,) + trained.shape
        np.testing.assert_allclose(chosen[1], trained, rtol=1e-12)
    # the test set plays no part: scrambled test labels change the test scores, not the choice
    scrambled = N.Dataset(DATA.x_train, DATA.y_train, DATA.x_val, DATA.y_val, DATA.x_test, (DATA.y_test + 1) % 10, 10)
    t = N.sweep(["gd", "adam"], lrs, seeds=[0, 1], data=scrambled, epochs=2)
    assert not np.allclose(t.test_acc, s.test_acc)
    np.testing.assert_array_equal(t.best, s.best)


def test_sweep_trains_its_methods_in_worker_processes_with_the_results_of_a_serial_sweep(monkeypatch):
    monkeypatch.setattr(N.os, "cpu_count", lambda: 2)  # two workers, whatever this machine has
    assert len(set(N._map(N.os.getpid, [((), {})] * 2)) - {N.os.getpid()}) >= 1  # not in this process
    lrs = {"gd": [0.03, 0.3, 1e3], "adam": [1e-4, 1e-2, 10.0], "rmsprop": [1e-3, 1e-2, 0.1]}
    parallel = N.sweep(list(lrs), lrs, seeds=[0, 1], data=DATA, epochs=2)
    monkeypatch.setattr(N.os, "cpu_count", lambda: 1)  # one after another, here
    assert set(N._map(N.os.getpid, [((), {})] * 2)) == {N.os.getpid()}
    serial = N.sweep(list(lrs), lrs, seeds=[0, 1], data=DATA, epochs=2)
    _assert_same_sweeps(parallel, serial)


def _assert_same_sweeps(one, other):
    for field in N.Sweep._fields:
        a, b = getattr(one, field), getattr(other, field)
        for x, y in zip(a, b) if field == "best_params" else [(a, b)]:
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=field)


def test_a_memoized_trainer_trains_each_method_once_across_sweeps(tmp_path, monkeypatch):
    import cache as C

    monkeypatch.setenv("OPTIMIZERS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(N.os, "cpu_count", lambda: 1)  # in this process, where the cache's counts are kept
    lrs = {"gd": [0.03, 0.3], "adam": [1e-3, 1e-2], "rmsprop": [1e-3, 1e-2]}
    args = dict(seeds=[0, 1], data=DATA, epochs=2)
    C.HITS.clear(), C.MISSES.clear()
    pair = N.sweep(["adam", "gd"], {m: lrs[m] for m in ("adam", "gd")}, trainer=C.memoized(N.train), **args)
    assert len(C.MISSES) == 2 and not C.HITS
    # a wider sweep with the same settings trains only the method the first did not
    wide = N.sweep(list(lrs), lrs, trainer=C.memoized(N.train), **args)
    assert len(C.MISSES) == 3 and len(C.HITS) == 2
    plain = N.sweep(list(lrs), lrs, **args)
    _assert_same_sweeps(wide, plain)
    np.testing.assert_array_equal(pair.val_acc[0], plain.val_acc[1])  # adam, in either sweep
    # other settings (one more epoch) are another computation
    N.sweep(["adam"], {"adam": lrs["adam"]}, trainer=C.memoized(N.train), **{**args, "epochs": 3})
    assert len(C.MISSES) == 4


def test_sweep_with_every_rate_diverging():
    s = N.sweep("gd", [1e3, 1e4], seeds=[0], data=DATA, epochs=1)
    assert s.best.tolist() == [-1] and np.isnan(s.best_lr[0]) and s.diverged.all()
    assert all(np.isnan(p).all() for p in s.best_params)


# --- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    (dict(method="adamm"), "unknown optimizer 'adamm'; valid names: gd, momentum"),
    (dict(method=O.adam(1e-3)), "method must be an optimizer name or a factory"),
    (dict(beta=0.9), "unknown hyperparameter"),
    (dict(lr=-1.0), r"lr must be in \(0, inf\)"),
    (dict(lr=np.array([1e-3, -1.0])), r"lr must be in \(0, inf\)"),
    (dict(lr=np.ones((2, 2))), "must be a scalar or a 1-D array"),
    (dict(lr=np.ones(3), seed=[0, 1]), "one value per run"),
    (dict(beta1=1.0), r"beta1 must be in \[0, 1\)"),
    (dict(batch_size=0), r"batch_size must be an integer in \[1, 1079\]"),
    (dict(batch_size=1080), r"batch_size must be an integer in \[1, 1079\]"),
    (dict(batch_size=32.0), r"batch_size must be an integer in \[1, 1079\]"),
    (dict(epochs=-1), "epochs must be an integer >= 0"),
    (dict(epochs=2.5), "epochs must be an integer >= 0"),
    (dict(hidden=(0,)), r"hidden must be a sequence of layer widths, integers >= 1, got \(0,\)"),
    (dict(hidden=(16, 2.5)), "hidden must be a sequence of layer widths"),
    (dict(seed=[]), "seed must be an integer >= 0 or a non-empty"),
    (dict(seed=-1), "seed must be an integer >= 0"),
    (dict(seed=1.5), "seed must be an integer >= 0"),
    (dict(blowup=1.0), r"blowup must be in \(1, inf\)"),
    (dict(data=np.zeros((3, 64))), "data must be a Dataset"),
])
def test_train_rejects_bad_input(kwargs, message):
    args = dict(method="adam", data=DATA, epochs=1, lr=1e-3) | kwargs
    with pytest.raises(ValueError, match=message):
        N.train(args.pop("method"), args.pop("data"), **args)


def test_unknown_optimizer_message_is_get_optimizers():
    with pytest.raises(ValueError) as ours:
        N.train("sgd", DATA)
    with pytest.raises(ValueError) as theirs:
        O.get_optimizer("sgd")
    assert str(ours.value) == str(theirs.value)


def test_bad_shapes_raise():
    params = N.init_params((4, 3, 2), seed=[0, 1])
    with pytest.raises(ValueError, match=r"x must have shape \(K, B, 4\) or \(B, 4\) with K = 2"):
        N.loss_and_grads(params, np.zeros((2, 5, 3)), np.zeros((2, 5), dtype=int))
    with pytest.raises(ValueError, match=r"x must have shape"):
        N.loss_and_grads(params, np.zeros((3, 5, 4)), np.zeros((3, 5), dtype=int))
    with pytest.raises(ValueError, match="y must hold integer labels"):
        N.loss_and_grads(params, np.zeros((5, 4)), np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match="y must hold integer labels"):
        N.loss_and_grads(params, np.zeros((5, 4)), np.zeros(5))
    with pytest.raises(ValueError, match="layer 2: W must be"):
        N.forward((params[0], params[1], params[2][:, :2], params[3]), np.zeros((5, 4)))
    with pytest.raises(ValueError, match=r"params must be \(W1, b1"):
        N.forward(params[:3], np.zeros((5, 4)))
    with pytest.raises(ValueError, match="sizes must be at least 2 integers"):
        N.init_params((64,))
    with pytest.raises(ValueError, match=r"y_val must lie in \[0, 10\)"):
        N.Dataset(DATA.x_train, DATA.y_train, DATA.x_val, DATA.y_val + 1, DATA.x_test, DATA.y_test, 10)
    with pytest.raises(ValueError, match="x_test must have shape"):
        N.Dataset(DATA.x_train, DATA.y_train, DATA.x_val, DATA.y_val, DATA.x_test[:, :8], DATA.y_test, 10)
    with pytest.raises(ValueError, match=r"validation must be a fraction in \(0, 1\)"):
        N.digits(0, validation=0.0)
    with pytest.raises(ValueError, match="validation \\+ test must be < 1"):
        N.digits(0, validation=0.5, test=0.5)
    with pytest.raises(ValueError, match="lrs must give a grid for every method"):
        N.sweep(["gd", "adam"], {"gd": [0.1]})
    with pytest.raises(ValueError, match="unknown optimizer"):
        N.sweep(["gdd"], [0.1])
    with pytest.raises(ValueError, match="all of the same length"):
        N.sweep(["gd", "adam"], {"gd": [0.1, 0.2], "adam": [0.1]})
