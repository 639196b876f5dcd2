"""The simulation loop: shapes, batches, data-driven gradients, divergence and bad input."""
import warnings

import numpy as np
import pytest

import optimizers as O

Q, V = O.SURFACES["quadratic"], O.SURFACES["valley"]


def test_shapes_and_start_included():
    tr = O.run(O.demo("adam"), Q, start=(1.0, 2.0), steps=25)
    assert tr.path.shape == (26, 2) and tr.loss.shape == (26,)
    np.testing.assert_array_equal(tr.path[0], [1.0, 2.0])
    assert tr.loss[0] == Q.value([1.0, 2.0])
    np.testing.assert_allclose(tr.loss, Q.value(tr.path.T))
    assert tr.diverged.shape == () and not tr.diverged and tr.diverged_at == -1
    zero = O.run(O.demo("adam"), Q, steps=0)
    np.testing.assert_array_equal(zero.path, [Q.start])


def test_default_start_is_the_surface_start():
    np.testing.assert_array_equal(O.run(O.gd(0.1), V, steps=3).path[0], V.start)


def test_batch_of_starts_equals_single_runs():
    starts = np.random.default_rng(0).uniform(-4, 4, size=(6, 2))
    for name in O.OPTIMIZERS:
        batch = O.run(O.demo(name), V, start=starts, steps=40)
        assert batch.path.shape == (6, 41, 2) and batch.loss.shape == (6, 41)
        for k, s in enumerate(starts):
            single = O.run(O.demo(name), V, start=s, steps=40)
            np.testing.assert_allclose(batch.path[k], single.path, rtol=1e-13, atol=1e-300)
            np.testing.assert_allclose(batch.loss[k], single.loss, rtol=1e-13, atol=1e-300)


def test_learning_rate_sweep_equals_single_runs_and_marks_each_divergence():
    lrs = np.array([0.1, 0.4, 0.49, 0.51, 0.8])
    sweep = O.run(O.gd(lrs[:, None]), V, steps=200)
    assert sweep.path.shape == (5, 201, 2)
    np.testing.assert_array_equal(sweep.diverged, lrs > V.lr_max)
    for k, lr in enumerate(lrs):
        single = O.run(O.gd(lr), V, steps=200)
        np.testing.assert_allclose(sweep.path[k], single.path, rtol=1e-13)
        assert sweep.diverged_at[k] == single.diverged_at


def test_two_dimensional_grid_of_hyperparameters():
    lrs = np.array([0.1, 0.3, 0.7])[:, None, None]
    betas = np.array([0.0, 0.5, 0.9, 0.95])[None, :, None]
    grid = O.run(O.momentum(lrs, momentum=betas), V, steps=50)
    assert grid.path.shape == (3, 4, 51, 2) and grid.diverged.shape == (3, 4)
    single = O.run(O.momentum(0.3, momentum=0.9), V, steps=50)
    np.testing.assert_allclose(grid.path[1, 2], single.path, rtol=1e-13)


def test_record_state():
    tr = O.run(O.demo("adam"), V, start=np.zeros((3, 2)) + V.start, steps=10, record_state=True)
    assert tr.states.m.shape == (3, 11, 2) and tr.states.t.shape == (11,)
    np.testing.assert_array_equal(tr.states.t, np.arange(11))
    np.testing.assert_array_equal(tr.states.m[:, 0], 0.0)
    assert O.run(O.demo("adam"), V, steps=3).states is None


def test_divergence_is_flagged_frozen_and_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any overflow or invalid-value warning fails the test
        tr = O.run(O.gd(0.8), O.SURFACES["rosenbrock"], steps=100)
        gd_q = O.run(O.gd(1.1), Q, steps=500)
    for t in (tr, gd_q):
        assert t.diverged and 0 < t.diverged_at <= 500
        assert np.all(np.isfinite(t.path)) and np.all(np.isfinite(t.loss))
        k = t.diverged_at
        np.testing.assert_array_equal(t.path[k:], np.broadcast_to(t.path[k - 1], t.path[k:].shape))
    # GD at lr 1.1 on x^2 + y^2 multiplies each coordinate by 1 - 2.2 = -1.2 each step, until one is
    # more than 100 half-widths (500) from the centre; x starts at -4: step ceil(log(500 / 4) / log(1.2)) = 27
    assert gd_q.diverged_at == int(np.ceil(np.log(500 / 4) / np.log(1.2))) == 27
    np.testing.assert_allclose(gd_q.path[:27], (-1.2) ** np.arange(27)[:, None] * np.array(Q.start))


def test_divergence_in_a_batch_does_not_touch_the_other_runs():
    lrs = np.array([1e-3, 50.0])[:, None]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tr = O.run(O.gd(lrs), O.SURFACES["rosenbrock"], steps=50, record_state=True)
    np.testing.assert_array_equal(tr.diverged, [False, True])
    assert np.all(np.isfinite(tr.path))


def test_inputs_are_not_mutated():
    start = np.array([[1.0, 2.0], [3.0, -1.0]])
    lr = np.array([[0.1], [0.2]])
    before = start.copy(), lr.copy()
    O.run(O.adam(lr), Q, start=start, steps=5)
    np.testing.assert_array_equal(start, before[0])
    np.testing.assert_array_equal(lr, before[1])


# --- gradients from data --------------------------------------------------------------------

DATA = O.least_squares(Q, n=64, noise=1.0, seed=0)


def test_full_batch_on_data_is_gd_on_the_surface():
    on_data = O.run(O.gd(0.1), DATA, steps=50)
    np.testing.assert_allclose(on_data.path, O.run(O.gd(0.1), Q, steps=50).path, atol=1e-12)
    np.testing.assert_allclose(O.run(O.gd(0.1), DATA, steps=50, batch_size=64).path, on_data.path)
    np.testing.assert_allclose(on_data.loss, Q.value(on_data.path.T) + DATA.noise_floor, rtol=1e-10)


def test_sgd_is_reproducible_and_differs_across_seeds():
    a = O.run(O.gd(0.05), DATA, steps=100, batch_size=1, seed=7)
    b = O.run(O.gd(0.05), DATA, steps=100, batch_size=1, seed=7)
    c = O.run(O.gd(0.05), DATA, steps=100, batch_size=1, seed=8)
    np.testing.assert_array_equal(a.path, b.path)
    assert not np.allclose(a.path, c.path)


def test_sgd_batch_equals_single_runs_with_seed_plus_k():
    batch = O.run(O.gd(0.05), DATA, start=np.tile(Q.start, (3, 1)), steps=70, batch_size=4, seed=10)
    for k in range(3):
        single = O.run(O.gd(0.05), DATA, steps=70, batch_size=4, seed=10 + k)
        np.testing.assert_allclose(batch.path[k], single.path, rtol=1e-13)


def test_sampling_is_without_replacement_within_an_epoch():
    # with lr tiny, each SGD step's gradient reveals which example it used: one per example per epoch
    tr = O.run(O.gd(1e-9), DATA, start=(0.0, 0.0), steps=128, batch_size=1, seed=3)
    grads = -np.diff(tr.path, axis=0) / 1e-9
    examples = DATA.example_gradients([0.0, 0.0])
    used = [int(np.argmin(np.linalg.norm(examples - g, axis=1))) for g in grads]
    assert sorted(used[:64]) == list(range(64)) and sorted(used[64:]) == list(range(64))
    assert used[:64] != used[64:]  # reshuffled each epoch


def test_sgd_hovers_and_the_spread_shrinks_as_the_batch_grows():
    starts = np.tile(Q.minimum, (200, 1))  # 200 seeds, all starting at the minimum
    spread = {}
    for b in (1, 4, 16, 64):
        tr = O.run(O.gd(0.05), DATA, start=starts, steps=128, batch_size=b, seed=0)
        spread[b] = np.sqrt(np.mean(np.sum((tr.path[:, 64:] - Q.minimum) ** 2, axis=-1)))
    assert spread[1] > 0.05  # visibly hovering around the minimum
    assert spread[1] > spread[4] > spread[16] > spread[64]
    assert spread[64] < 1e-12  # the full batch stays put


# --- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    (dict(start=(1.0, 2.0, 3.0)), r"start must have shape \(2,\) or \(\.\.\., 2\), got shape \(3,\)"),
    (dict(start=1.0), "start must have shape"),
    (dict(start=(np.nan, 0.0)), "start must be finite"),
    (dict(start=(1e6, 0.0)), "outside the bounds"),
    (dict(steps=-1), r"steps must be an integer >= 0, got -1"),
    (dict(steps=2.5), "steps must be an integer"),
    (dict(steps=True), "steps must be an integer"),
    (dict(batch_size=4), "batch_size needs a LeastSquares problem"),
    (dict(blowup=0.5), "blowup must be in"),
])
def test_run_rejects_bad_input_on_a_surface(kwargs, match):
    with pytest.raises(ValueError, match=match):
        O.run(O.gd(0.1), Q, **kwargs)


@pytest.mark.parametrize("batch_size", [0, 65, -1, 2.0])
def test_run_rejects_a_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match=r"batch_size must be an integer in \[1, 64\]"):
        O.run(O.gd(0.1), DATA, batch_size=batch_size)


def test_run_rejects_mismatched_shapes_and_problems():
    with pytest.raises(ValueError, match="do not broadcast"):
        O.run(O.gd(np.array([0.1, 0.2, 0.3])), Q)
    with pytest.raises(ValueError, match="problem must be a Surface or a LeastSquares"):
        O.run(O.gd(0.1), "quadratic")
    with pytest.raises(ValueError, match="seed must be an int or one per run"):
        O.run(O.gd(0.1), DATA, start=np.zeros((3, 2)), batch_size=2, seed=[1, 2])


def test_steps_to_a_tolerance():
    # GD at lr 0.25 on x^2 + y^2 halves each coordinate per step: loss(t) = 25 / 4^t from (-4, 3)
    tr = O.run(O.gd(0.25), Q, steps=20)
    np.testing.assert_allclose(tr.loss, 25.0 / 4.0 ** np.arange(21))
    assert tr.steps_to(1e-3) == int(np.ceil(np.log(25e3) / np.log(4)))  # 8
    assert tr.steps_to(1e-30) == -1
    assert O.run(O.gd(1.1), Q, steps=100).steps_to(1e9) == -1  # diverged runs never arrive
    # a dip that bounces back does not count: momentum overshoots on the valley
    mom = O.run(O.momentum(0.1, momentum=0.9), V, steps=300)
    k = mom.steps_to(1e-2)
    assert np.all(mom.loss[k:] <= 1e-2) and mom.loss[k - 1] > 1e-2
    assert np.any(mom.loss[:k] <= 1e-2)  # it had dipped below before
    batch = O.run(O.gd(np.array([[0.25], [0.5]])), Q, steps=20)
    np.testing.assert_array_equal(batch.steps_to(1e-3), [8, 1])


def test_nadam_schedule_matches_both_conventions():
    assert O.nadam_momentum(100) == pytest.approx(0.457, abs=5e-4)  # PyTorch, psi = 4e-3
    assert O.nadam_momentum(100, momentum_decay=1.0) == pytest.approx(0.892, abs=5e-4)  # Keras, 0.96^t
