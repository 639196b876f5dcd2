"""The update rules: single steps checkable by hand, equivalences, closed forms and bad input."""
import numpy as np
import pytest

import optimizers as O

G = np.array([3.0, -0.02])  # a large and a small gradient component
X = np.array([1.0, -2.0])


def first_step(opt, g=G, x=X):
    delta, state = opt.update(g, opt.init(x), x)
    return delta


def steps(opt, grads, x=X):
    """Apply `opt` to a fixed sequence of gradients; return the points."""
    return O.replay(opt, grads, x)


def test_replay_applies_each_gradient_in_turn():
    grads = np.array([[1.0, -2.0], [0.5, 0.5], [0.0, 4.0]])
    np.testing.assert_array_equal(O.replay(O.gd(0.5), grads, X), X - 0.5 * np.r_[[[0, 0]], np.cumsum(grads, axis=0)])
    with_momentum = O.replay(O.momentum(0.5, momentum=0.5), grads, X)
    b1 = grads[0]; b2 = 0.5 * b1 + grads[1]; b3 = 0.5 * b2 + grads[2]
    np.testing.assert_allclose(with_momentum, X - 0.5 * np.array([[0, 0], b1, b1 + b2, b1 + b2 + b3]))


def test_replay_records_the_states_as_run_does():
    # fed the gradients run computed along its own path, replay visits the same points and keeps the same states
    Q = O.SURFACES["quadratic"]
    for opt in (O.adam(0.1), O.amsgrad(0.1), O.momentum(0.05)):
        tr = O.run(opt, Q, steps=6, record_state=True)
        grads = Q.grad(tr.path[:-1].T).T
        points, states = O.replay(opt, grads, tr.path[0], record_state=True)
        np.testing.assert_array_equal(points, tr.path)
        np.testing.assert_array_equal(points, O.replay(opt, grads, tr.path[0]))
        for name in type(states)._fields:
            np.testing.assert_array_equal(getattr(states, name), getattr(tr.states, name), err_msg=name)


# --- single steps checkable by hand ------------------------------------------------------------

@pytest.mark.parametrize("name", ["adam", "amsgrad", "adamax", "adagrad", "adam_l2_zero", "adamw_zero"])
def test_first_adaptive_step_is_lr_times_sign(name):
    lr = 0.1
    opt = {
        "adam": O.adam(lr), "amsgrad": O.amsgrad(lr), "adamax": O.adamax(lr), "adagrad": O.adagrad(lr),
        "adam_l2_zero": O.adam(lr, weight_decay=0.0), "adamw_zero": O.adamw(lr, weight_decay=0.0),
    }[name]
    eps = opt.hyperparams["eps"]
    for scale in (1.0, 1e-3, 1e3):  # whatever the scale of the gradient: lr * sign(g), up to eps
        g = scale * G
        np.testing.assert_allclose(first_step(opt, g), -lr * g / (np.abs(g) + eps), rtol=1e-14)
        np.testing.assert_allclose(first_step(opt, g), -lr * np.sign(g), rtol=1e3 * eps / np.abs(g).min())


def test_keras_adam_example():
    # Keras' optimizer test: Adam(lr=0.5) on x = [1, 2, 3, 4] with g = [1, 6, 7, 2] gives x - 0.5
    x = np.array([1.0, 2.0, 3.0, 4.0])
    opt = O.adam(0.5)
    delta, _ = opt.update(np.array([1.0, 6.0, 7.0, 2.0]), opt.init(x), x)
    np.testing.assert_allclose(x + delta, [0.5, 1.5, 2.5, 3.5], rtol=1e-7)


def test_first_rmsprop_step_is_ten_lr():
    lr = 0.01  # alpha 0.99: lr * g / sqrt(0.01 g^2) = 10 lr per coordinate
    np.testing.assert_allclose(first_step(O.rmsprop(lr)), -10 * lr * np.sign(G), rtol=1e-5)


def test_first_adadelta_step():
    # lr 1, rho 0.9, eps 1e-6: sqrt(eps) / sqrt(0.1 g^2 + eps) * g, about 3.2e-3 for a large g
    expected = -np.sqrt(1e-6) / np.sqrt(0.1 * G ** 2 + 1e-6) * G
    np.testing.assert_allclose(first_step(O.adadelta()), expected, rtol=1e-12)
    assert abs(first_step(O.adadelta(), g=np.array([1e3, 1e3]))[0]) == pytest.approx(1e-3 / np.sqrt(0.1), rel=1e-6)


def test_first_nadam_step_by_hand():
    lr, b1, psi = 0.1, 0.9, 4e-3
    mu1 = b1 * (1 - 0.5 * 0.96 ** (1 * psi))
    mu2 = b1 * (1 - 0.5 * 0.96 ** (2 * psi))
    # m_1 = 0.1 g, sqrt(v_hat_1) = |g|: delta = -lr sign(g) (1 + 0.1 mu2 / (1 - mu1 mu2))
    expected = -lr * np.sign(G) * (1 + 0.1 * mu2 / (1 - mu1 * mu2))
    np.testing.assert_allclose(first_step(O.nadam(lr)), expected, rtol=1e-6)


def test_nadam_momentum_schedule_after_100_steps():
    opt = O.nadam()
    state = opt.init(X)
    for _ in range(100):
        _, state = opt.update(G, state, X)
    t = np.arange(1, 101)
    mu = 0.9 * (1 - 0.5 * 0.96 ** (t * 4e-3))  # PyTorch's schedule, t / 250
    assert mu[-1] == pytest.approx(0.457, abs=5e-4)  # CONVENTIONS.md: 0.892 in Keras' 0.96^t
    assert state.mu_product == pytest.approx(np.prod(mu), rel=1e-12)


def test_adamw_decays_the_weights_on_a_zero_gradient():
    lr, wd = 0.1, 0.3
    np.testing.assert_allclose(first_step(O.adamw(lr, weight_decay=wd), g=np.zeros(2)), -lr * wd * X)
    # L2 in Adam goes through the adaptive scaling instead: the first step is lr * sign(x)
    np.testing.assert_allclose(first_step(O.adam(lr, weight_decay=wd), g=np.zeros(2)), -lr * np.sign(X), rtol=1e-6)


def test_momentum_buffer_starts_at_the_first_gradient():
    lr = 0.1
    delta = first_step(O.momentum(lr, momentum=0.9))
    np.testing.assert_allclose(delta, -lr * G)  # b_1 = g_1, as PyTorch


def test_adagrad_step_size_decays_like_one_over_sqrt_t():
    opt = O.adagrad(lr=1.0)
    state = opt.init(X)
    for _ in range(100):
        _, state = opt.update(G, state, X)
    np.testing.assert_allclose(opt.step_size(state), 1.0 / (np.sqrt(100) * np.abs(G)), rtol=1e-8)


# --- equivalences ----------------------------------------------------------------------------

GRADS = np.random.default_rng(0).normal(size=(30, 2)) * np.array([3.0, 0.1])


def test_momentum_with_zero_beta_is_gd():
    np.testing.assert_array_equal(steps(O.momentum(0.1, momentum=0.0), GRADS), steps(O.gd(0.1), GRADS))


def test_nesterov_with_zero_momentum_is_gd():
    np.testing.assert_array_equal(steps(O.nesterov(0.1, momentum=0.0), GRADS), steps(O.gd(0.1), GRADS))


def test_adamw_without_decay_is_adam():
    np.testing.assert_array_equal(steps(O.adamw(0.1, weight_decay=0.0), GRADS), steps(O.adam(0.1), GRADS))


def test_amsgrad_equals_adam_while_v_never_decreases():
    growing = np.outer(np.arange(1, 31), [1.0, -2.0])  # |g| grows, so v_t >= v_{t-1}
    np.testing.assert_allclose(steps(O.amsgrad(0.1), growing), steps(O.adam(0.1), growing), rtol=1e-15)
    shrinking = growing[::-1]
    assert not np.allclose(steps(O.amsgrad(0.1), shrinking), steps(O.adam(0.1), shrinking))


def test_adam_with_beta1_zero_is_rmsprop_with_bias_correction():
    lr, b2, eps = 0.05, 0.9, 1e-8
    # independent computation: RMSprop's average, bias-corrected, written out here
    x, v, expected = X.copy(), np.zeros(2), [X.copy()]
    for t, g in enumerate(GRADS, start=1):
        v = b2 * v + (1 - b2) * g ** 2
        x = x - lr * g / (np.sqrt(v / (1 - b2 ** t)) + eps)
        expected.append(x)
    np.testing.assert_allclose(steps(O.adam(lr, beta1=0.0, beta2=b2, eps=eps), GRADS), expected, rtol=1e-13)


def test_adam_l2_is_adam_on_the_regularised_surface():
    lam, f = 0.5, O.SURFACES["valley"]
    regularised = O.quadratic(f.hessian + lam * np.eye(2))
    a = O.run(O.adam(0.1, weight_decay=lam), f, start=(3.0, 2.0), steps=50).path
    b = O.run(O.adam(0.1), regularised, start=(3.0, 2.0), steps=50).path
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_pytorch_and_keras_momentum_agree_at_constant_lr():
    lr, mu = 0.05, 0.8
    x, v, keras = X.copy(), np.zeros(2), [X.copy()]  # Sutskever/Keras: v = mu v - lr g; x = x + v
    for g in GRADS:
        v = mu * v - lr * g
        x = x + v
        keras.append(x)
    np.testing.assert_allclose(steps(O.momentum(lr, momentum=mu), GRADS), keras, rtol=1e-12, atol=1e-15)


# --- closed forms on the quadratic -------------------------------------------------------------

@pytest.mark.parametrize("lr", [0.05, 0.3, 0.49])
def test_gd_on_a_diagonal_quadratic_is_geometric(lr):
    f = O.SURFACES["valley"]
    x0 = np.array([-9.0, 2.0])
    path = O.run(O.gd(lr), f, start=x0, steps=60).path
    t = np.arange(61)[:, None]
    np.testing.assert_allclose(path, (1 - lr * np.array([0.2, 4.0])) ** t * x0, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("name", ["quadratic", "valley"])
def test_gd_diverges_exactly_beyond_two_over_lambda_max(name):
    f = O.SURFACES[name]
    inside = O.run(O.gd(0.99 * f.lr_max), f, steps=3000)
    outside = O.run(O.gd(1.01 * f.lr_max), f, steps=3000)
    assert not inside.diverged and np.linalg.norm(inside.end()) < 1e-6
    assert outside.diverged and outside.diverged_at > 0


def test_best_fixed_learning_rate_contracts_at_the_predicted_rate():
    f = O.SURFACES["valley"]
    lo, hi = f.eigenvalues
    lr = 2 / (lo + hi)
    assert lr == pytest.approx(0.476, abs=1e-3)
    path = O.run(O.gd(lr), f, start=(1.0, 1.0), steps=40).path
    rate = np.abs(path[1:] / path[:-1])
    np.testing.assert_allclose(rate, (hi - lo) / (hi + lo), rtol=1e-10)  # 0.905 in both directions


@pytest.mark.parametrize("beta", [0.0, 0.3, 0.6, 0.9])
def test_momentum_converges_exactly_inside_its_region(beta):
    # heavy ball converges iff 0 < lr * lambda < 2 + 2 beta for every eigenvalue (here lambda_max = 4)
    f = O.SURFACES["valley"]
    edge = (2 + 2 * beta) / 4.0
    inside = O.run(O.momentum(0.97 * edge, momentum=beta), f, steps=4000)
    outside = O.run(O.momentum(1.03 * edge, momentum=beta), f, steps=4000)
    assert not inside.diverged and np.linalg.norm(inside.end()) < 1e-6
    assert outside.diverged


def test_optimal_momentum_contracts_at_sqrt_beta():
    f = O.SURFACES["valley"]
    lo, hi = np.sqrt(f.eigenvalues)
    lr, beta = (2 / (lo + hi)) ** 2, ((hi - lo) / (hi + lo)) ** 2
    assert (lr, beta) == pytest.approx((0.668, 0.403), abs=1e-3)
    path = O.run(O.momentum(lr, momentum=beta), f, start=(1.0, 1.0), steps=300).path
    d = np.linalg.norm(path, axis=1)
    measured = (d[300] / d[200]) ** (1 / 100)  # a double root: a factor t rides along, small here
    assert measured == pytest.approx(np.sqrt(beta), rel=0.01)


# --- every rule goes downhill and reaches the minimum -----------------------------------------

@pytest.mark.parametrize("name", list(O.OPTIMIZERS))
def test_demo_settings_reach_the_minimum_of_the_quadratic(name):
    f = O.SURFACES["quadratic"]
    tr = O.run(O.demo(name), f, steps=300)
    assert not tr.diverged
    assert np.linalg.norm(tr.end() - f.minimum) < 1e-3
    assert tr.loss[-1] < 1e-6 * tr.loss[0]


@pytest.mark.parametrize("name", list(O.OPTIMIZERS))
@pytest.mark.parametrize("surface", ["quadratic", "valley", "rosenbrock"])
def test_first_step_goes_downhill(name, surface):
    f = O.SURFACES[surface]
    tr = O.run(O.get_optimizer(name, lr=1e-4), f, steps=1)
    assert tr.loss[1] < tr.loss[0]


@pytest.mark.parametrize("name", ["adagrad", "rmsprop", "adadelta", "adam", "adamax", "nadam", "amsgrad", "adamw"])
def test_step_size_reads_a_recorded_history(name):
    f = O.SURFACES["valley"]
    opt = O.demo(name)
    tr = O.run(opt, f, steps=20, record_state=True)
    sizes = opt.step_size(tr.states)
    assert sizes.shape == (21, 2) and np.all(np.isfinite(sizes[1:])) and np.all(sizes[1:] > 0)
    # the history agrees with stepping the state by hand
    state = opt.init(np.array(f.start))
    for k in range(5):
        _, state = opt.update(f.grad(tr.path[k]), state, tr.path[k])
    np.testing.assert_allclose(sizes[5], opt.step_size(state), rtol=1e-14)


# --- bad input ---------------------------------------------------------------------------------

BAD = [
    (O.gd, "lr", [0.0, -0.1, np.nan, np.inf]),
    (O.momentum, "lr", [0.0]), (O.momentum, "momentum", [-0.1, 1.0, 1.5]),
    (O.nesterov, "momentum", [1.0, -1.0]),
    (O.adagrad, "lr", [-1.0]), (O.adagrad, "lr_decay", [-0.1]), (O.adagrad, "eps", [0.0, -1e-8]),
    (O.adagrad, "initial_accumulator_value", [-0.1]),
    (O.rmsprop, "lr", [0.0]), (O.rmsprop, "alpha", [1.0, -0.5]), (O.rmsprop, "eps", [0.0]),
    (O.adadelta, "lr", [0.0]), (O.adadelta, "rho", [1.0, -0.1]), (O.adadelta, "eps", [0.0]),
    (O.adam, "lr", [0.0]), (O.adam, "beta1", [1.0, -0.1]), (O.adam, "beta2", [1.0, 2.0]),
    (O.adam, "eps", [0.0]), (O.adam, "weight_decay", [-0.01]),
    (O.adamax, "beta1", [1.0]), (O.adamax, "beta2", [-0.1]), (O.adamax, "eps", [0.0]),
    (O.nadam, "beta1", [1.0]), (O.nadam, "beta2", [1.0]), (O.nadam, "momentum_decay", [-1e-3]),
    (O.nadam, "eps", [0.0]),
    (O.amsgrad, "beta2", [1.0]), (O.adamw, "weight_decay", [-1.0]), (O.adamw, "lr", [0.0]),
]


@pytest.mark.parametrize("factory, param, values", BAD, ids=lambda v: getattr(v, "__name__", None) or str(v))
def test_invalid_hyperparameters_raise_naming_the_parameter(factory, param, values):
    for value in values:
        with pytest.raises(ValueError, match=rf"^{param} must be in [\[(].*got {value}"):
            factory(**{param: value})


def test_invalid_value_inside_a_sweep_is_named():
    with pytest.raises(ValueError, match=r"lr must be in \(0, inf\), got -0.5"):
        O.adam(lr=np.array([[0.1], [-0.5], [0.2]]))


def test_unknown_optimizer_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown optimizer 'lion'; valid names: gd, momentum, nesterov, .*adamw"):
        O.get_optimizer("lion")


def test_registry_covers_the_lecture():
    assert list(O.OPTIMIZERS) == ["gd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta",
                                  "adam", "adamax", "nadam", "amsgrad", "adamw"]
    assert set(O.DEMO) == set(O.OPTIMIZERS)
    for name in O.OPTIMIZERS:
        assert O.get_optimizer(name).name == name


# --- schedules, clipping and Adam without bias correction -------------------------------------

def test_schedule_multiplies_each_step():
    grads = GRADS[:12]
    sched = O.step_decay(every=4, factor=0.5)
    got = O.replay(O.scheduled(O.gd(0.1), sched), grads, X)
    lrs = 0.1 * sched(np.arange(1, 13))
    np.testing.assert_allclose(got, X - np.r_[[[0.0, 0.0]], np.cumsum(lrs[:, None] * grads, axis=0)], rtol=1e-14)
    np.testing.assert_array_equal(O.replay(O.scheduled(O.adam(0.1), O.constant()), grads, X), O.replay(O.adam(0.1), grads, X))


@pytest.mark.parametrize("schedule, expected", [
    (O.step_decay(3, 0.5), [1, 1, 1, 0.5, 0.5, 0.5, 0.25]),
    (O.exponential(2.0), [1, 2, 4, 8, 16, 32, 64]),
    (O.cosine(6), [1, 0.9330127, 0.75, 0.5, 0.25, 0.0669873, 0]),
    (O.warmup(4), [0.25, 0.5, 0.75, 1, 1, 1, 1]),
    (O.warmup(2, O.step_decay(2, 0.1)), [0.5, 1, 1, 1, 0.1, 0.1, 0.01]),
    (O.cyclical(4, low=0.2), [0.2, 0.6, 1.0, 0.6, 0.2, 0.6, 1.0]),
])
def test_schedules_by_hand(schedule, expected):
    np.testing.assert_allclose(schedule(np.arange(1, 8)), expected, rtol=1e-6, atol=1e-12)


def test_scheduled_matches_pytorch_lambdalr():
    torch = pytest.importorskip("torch", reason="torch is not installed; the schedule's arithmetic is tested above")
    torch.set_default_dtype(torch.float64)
    lam = O.step_decay(every=3, factor=0.3)
    for ours, make in ((O.momentum(0.05, momentum=0.9), lambda p: torch.optim.SGD([p], lr=0.05, momentum=0.9)),
                       (O.adam(0.1), lambda p: torch.optim.Adam([p], lr=0.1))):
        p = torch.tensor(X, requires_grad=True)
        opt = make(p)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: float(lam(k + 1)))
        path = [X.copy()]
        for g in GRADS[:10]:
            opt.zero_grad()
            p.grad = torch.tensor(g)
            opt.step()
            sched.step()
            path.append(p.detach().numpy().copy())
        np.testing.assert_allclose(O.replay(O.scheduled(ours, lam), GRADS[:10], X), path, rtol=1e-13)


def test_clipping_by_norm():
    big, small = np.array([30.0, 40.0]), np.array([0.3, 0.4])
    opt = O.clipped(O.gd(0.1), max_norm=1.0)
    np.testing.assert_allclose(first_step(opt, big), -0.1 * big / 50.0, rtol=1e-6)  # scaled to norm 1
    np.testing.assert_array_equal(first_step(opt, small), -0.1 * small)  # left alone
    with pytest.raises(ValueError, match="max_norm must be in"):
        O.clipped(O.gd(0.1), max_norm=0.0)


def test_adam_without_bias_correction():
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
    expected = -lr * (1 - b1) * G / (np.sqrt(1 - b2) * np.abs(G) + eps)  # about 3.16 lr sign(g)
    np.testing.assert_allclose(first_step(O.adam(lr, bias_correction=False)), expected, rtol=1e-12)
    assert abs(first_step(O.adam(lr, bias_correction=False))[0]) == pytest.approx(0.1 / np.sqrt(0.001) * lr, rel=1e-6)


@pytest.mark.parametrize("make, match", [
    (lambda: O.step_decay(0), "every must be"), (lambda: O.step_decay(5, 1.5), "factor must be"),
    (lambda: O.exponential(0.0), "gamma must be"), (lambda: O.cosine(0), "total must be"),
    (lambda: O.warmup(0), "steps must be"), (lambda: O.cyclical(1), "period must be"),
    (lambda: O.cyclical(10, low=2.0), "low must be"),
])
def test_schedule_parameters_are_validated(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_amsgrad_state_keeps_a_non_decreasing_v_max_and_adam_has_two_buffers():
    assert O.adam().init(X)._fields == ("t", "m", "v")
    assert O.amsgrad().init(X)._fields == ("t", "m", "v", "v_max")
    tr = O.run(O.amsgrad(0.1), O.SURFACES["rosenbrock"], steps=300, record_state=True)
    assert np.all(np.diff(tr.states.v_max, axis=0) >= 0)
    np.testing.assert_array_equal(tr.states.v_max, np.maximum.accumulate(tr.states.v, axis=0))


def test_starts_around_turns_and_scales_about_the_minimum():
    f = O.quadratic([[1.0, 0.0], [0.0, 1.0]], center=(1.0, 2.0), start=(4.0, 2.0))
    s = O.starts_around(f, angle=90.0, scale=2.0)
    np.testing.assert_allclose(s, [[4, 2], [1, -1], [1, 5], [7, 2], [2.5, 2]], atol=1e-12)
    with pytest.raises(ValueError, match="scale"):
        O.starts_around(f, scale=1.0)


def test_tune_lr_scores_the_worst_start_and_picks_the_fastest_lr():
    f = O.SURFACES["quadratic"]  # GD on x^2 + y^2: lr 0.5 lands on the minimum in one step
    lrs = np.array([0.05, 0.25, 0.5, 0.75, 1.2])
    starts = O.starts_around(f)
    best, scores = O.tune_lr("gd", f, lrs, steps=100, tol=1e-6, starts=starts)
    assert best == 0.5 and scores[2] == 1
    assert scores[-1] == np.inf  # beyond the stability limit 1: diverges
    # each score is the worst start's steps_to, computed here run by run
    for lr, score in zip(lrs[:4], scores[:4]):
        per_start = [O.run(O.gd(lr), f, start=s, steps=100).steps_to(1e-6) for s in starts]
        assert score == max(per_start)
    # one start that does not arrive makes the score inf: a far start with too few steps
    _, far = O.tune_lr("gd", f, [0.05], steps=100, tol=1e-6, starts=[f.start, (400.0, 0.0)])
    assert far[0] == np.inf
    assert np.isnan(O.tune_lr("gd", f, [1.5], steps=50, tol=1e-6)[0])
    with pytest.raises(ValueError, match="lrs"):
        O.tune_lr("gd", f, [[0.1]])
    with pytest.raises(ValueError, match="lr"):
        O.tune_lr("gd", f, [-0.1])


def test_tune_lr_passes_overrides_to_the_method():
    f = O.SURFACES["valley"]
    lrs = np.geomspace(0.05, 1.0, 9)
    with_decay = O.tune_lr("adamw", f, lrs)[1]
    without = O.tune_lr("adamw", f, lrs, weight_decay=0.0)[1]
    np.testing.assert_array_equal(without, O.tune_lr("adam", f, lrs)[1])  # AdamW without decay is Adam
    assert not np.array_equal(with_decay, without)


def test_record_state_of_a_scheduled_run_stacks_the_wrapped_state():
    """``scheduled`` wraps the optimizer's state in its own; recording it stacks the inner fields too
    (it used to fail on the nested state). A constant schedule of 1 records what the bare optimizer does."""
    V = O.SURFACES["valley"]
    wrapped = O.run(O.scheduled(O.adam(0.3), lambda t: 1.0), V, steps=30, record_state=True)
    bare = O.run(O.adam(0.3), V, steps=30, record_state=True)
    assert type(wrapped.states) is O.ScheduledState and wrapped.states.inner.v.shape == bare.states.v.shape == (31, 2)
    for field in bare.states._fields:
        np.testing.assert_array_equal(getattr(wrapped.states.inner, field), getattr(bare.states, field))
    runs = O.run(O.scheduled(O.momentum(np.array([[0.01], [9.0]]), momentum=0.9), lambda t: 1.0), V, steps=40,
                 record_state=True)  # two runs, the second diverges: its state is frozen like its path
    assert runs.diverged.tolist() == [False, True]
    buf = runs.states.inner.b
    d = runs.diverged_at[1]
    assert buf.shape == (2, 41, 2) and np.all(buf[1, d:] == buf[1, d - 1]) and np.isfinite(buf).all()


def test_defaults_are_pytorchs_except_where_listed():
    # The cheat-sheet prints each factory's defaults as PyTorch's, noting O.PYTORCH_DEFAULTS where they differ.
    import inspect

    torch = pytest.importorskip("torch", reason="torch is not installed: no torch.optim signatures to compare with")
    import torch_reference as T

    def numbers(fn):  # the numeric defaults, Adam's betas split into (betas, 0) and (betas, 1) as ours are
        out = {}
        for k, p in inspect.signature(fn).parameters.items():
            if k == "betas":
                out |= {("betas", 0): p.default[0], ("betas", 1): p.default[1]}
            elif isinstance(p.default, (int, float)) and not isinstance(p.default, bool):
                out[{"beta1": ("betas", 0), "beta2": ("betas", 1)}.get(k, k)] = p.default
        return out

    for name, fn in O.OPTIMIZERS.items():
        ours, theirs = numbers(fn), numbers(getattr(torch.optim, T.CASES[name][2]))
        differs = O.PYTORCH_DEFAULTS.get(name, {})
        assert set(differs) <= set(ours), f"{name}: PYTORCH_DEFAULTS names {set(differs) - set(ours)}, not ours"
        for k, v in ours.items():
            assert k in theirs and theirs[k] == differs.get(k, v), \
                f"{name}: {k} is {v} here and {theirs.get(k)} in PyTorch, PYTORCH_DEFAULTS says {differs.get(k)}"
        for k, v in differs.items():
            assert ours[k] != v, f"{name}: {k} is PyTorch's {v} here too; PYTORCH_DEFAULTS should not list it"


def test_state_per_weight_counts_the_arrays_each_rule_keeps():
    kept = {n: O.state_per_weight(O.get_optimizer(n)) for n in O.OPTIMIZERS}
    assert kept == {"gd": 0, "momentum": 1, "nesterov": 1, "adagrad": 1, "rmsprop": 1, "adadelta": 2, "adam": 2,
                    "adamax": 2, "nadam": 2, "amsgrad": 3, "adamw": 2}
    assert O.state_per_weight(O.adam(amsgrad=True)) == 3  # the flag adds the running maximum of v


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_lr_max_is_where_momentum_starts_to_diverge(nesterov):
    V = O.SURFACES["valley"]
    rule = O.nesterov if nesterov else O.momentum
    for mu in (0.0, 0.5, 0.9):
        limit = V.momentum_lr_max(mu, nesterov=nesterov)
        assert not O.run(rule(0.99 * limit, momentum=mu), V, steps=5000).diverged
        assert O.run(rule(1.01 * limit, momentum=mu), V, steps=5000).diverged
    assert V.momentum_lr_max(0.0, nesterov=nesterov) == pytest.approx(V.lr_max)  # no momentum: GD's limit
    assert V.momentum_lr_max(np.array([0.0, 0.9])).shape == (2,)
