"""The loss surfaces and the least-squares data: values, gradients and known answers."""
import numpy as np
import pytest

import optimizers as O

NAMES = list(O.SURFACES)


def random_points(surface, k=20, seed=0):
    rng = np.random.default_rng(seed)
    (x0, x1), (y0, y1) = surface.bounds
    return np.stack([rng.uniform(x0, x1, k), rng.uniform(y0, y1, k)], axis=1)


def fd_gradient(f, p, h=1e-6):
    e = np.eye(2)
    return np.array([(f(p + h * e[i]) - f(p - h * e[i])) / (2 * h) for i in range(2)])


def fd_hessian(surface, p, h=1e-5):
    e = np.eye(2)
    return np.array([(surface.grad(p + h * e[i]) - surface.grad(p - h * e[i])) / (2 * h) for i in range(2)])


@pytest.mark.parametrize("name", NAMES)
def test_gradient_matches_central_difference(name):
    f = O.SURFACES[name]
    for p in random_points(f):
        g = f.grad(p)
        assert g.shape == (2,)
        np.testing.assert_allclose(g, fd_gradient(f.value, p), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_minima_are_stationary_with_positive_curvature(name):
    f = O.SURFACES[name]
    assert len(f.minima) >= 1
    for m in f.minima:
        np.testing.assert_allclose(f.grad(m), 0.0, atol=1e-12)
        assert np.all(np.linalg.eigvalsh(fd_hessian(f, m)) > 0)
    # the global minimum comes first and nothing inside the bounds is lower
    assert f.f_min == pytest.approx(min(f.value(m) for m in f.minima))
    assert np.all(f.value(random_points(f, 2000, seed=1).T) >= f.f_min - 1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_saddles_are_stationary_with_mixed_curvature(name):
    f = O.SURFACES[name]
    for s in f.saddles:
        np.testing.assert_allclose(f.grad(s), 0.0, atol=1e-12)
        lam = np.linalg.eigvalsh(fd_hessian(f, s))
        assert lam[0] < 0 < lam[1]


@pytest.mark.parametrize("name", NAMES)
def test_value_and_gradient_broadcast_over_a_meshgrid(name):
    f = O.SURFACES[name]
    (x0, x1), (y0, y1) = f.bounds
    X, Y = np.meshgrid(np.linspace(x0, x1, 7), np.linspace(y0, y1, 5))
    Z = f.value(np.stack([X, Y]))
    G = f.grad(np.stack([X, Y]))
    assert Z.shape == (5, 7) and G.shape == (2, 5, 7)
    for i in range(5):
        for j in range(7):
            assert Z[i, j] == pytest.approx(f.value([X[i, j], Y[i, j]]), rel=1e-14, abs=1e-14)
            np.testing.assert_allclose(G[:, i, j], f.grad([X[i, j], Y[i, j]]), rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("name", NAMES)
def test_default_start_lies_inside_the_bounds(name):
    f = O.SURFACES[name]
    (x0, x1), (y0, y1) = f.bounds
    assert x0 < f.start[0] < x1 and y0 < f.start[1] < y1


def test_known_values():
    q, v = O.SURFACES["quadratic"], O.SURFACES["valley"]
    assert q.value([1.0, 2.0]) == 5.0
    np.testing.assert_array_equal(q.grad([1.0, 2.0]), [2.0, 4.0])
    assert v.value([1.0, 1.0]) == pytest.approx(2.1)
    np.testing.assert_allclose(q.eigenvalues, [2.0, 2.0])
    np.testing.assert_allclose(v.eigenvalues, [0.2, 4.0])
    assert v.lr_max == 0.5 and q.lr_max == 1.0
    assert v.condition_number == pytest.approx(20.0)
    r = O.SURFACES["rosenbrock"]
    assert r.value([1.0, 1.0]) == 0.0 and r.value([0.0, 0.0]) == 1.0
    np.testing.assert_allclose(r.grad([0.0, 0.0]), [-2.0, 0.0])


def test_quadratic_with_center_and_cross_terms():
    H = np.array([[3.0, 1.0], [1.0, 2.0]])
    c = np.array([1.0, -2.0])
    f = O.quadratic(H, c)
    p = np.array([0.3, 0.7])
    assert f.value(p) == pytest.approx(0.5 * (p - c) @ H @ (p - c))
    np.testing.assert_allclose(f.grad(p), H @ (p - c))
    np.testing.assert_array_equal(f.minimum, c)
    # an indefinite Hessian has a saddle and no minimum
    s = O.quadratic([[1.0, 0.0], [0.0, -1.0]])
    assert len(s.minima) == 0 and len(s.saddles) == 1


def test_double_well_minima_are_the_roots_of_the_cubic():
    f = O.SURFACES["double_well"]
    (xg, _), (xl, _) = f.minima
    assert xg < f.saddles[0][0] < xl
    for x in (xg, xl, f.saddles[0][0]):
        assert x ** 3 - x + 0.25 == pytest.approx(0.0, abs=1e-14)
    assert f.value(f.minima[0]) < f.value(f.minima[1])


@pytest.mark.parametrize("bad", [
    dict(hessian=[[1.0, 2.0], [0.0, 1.0]]),
    dict(hessian=[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]),
])
def test_quadratic_rejects_a_bad_hessian(bad):
    with pytest.raises(ValueError, match="hessian"):
        O.quadratic(**bad)


def test_non_quadratic_surface_has_no_eigenvalues():
    with pytest.raises(ValueError, match="not quadratic"):
        O.SURFACES["rosenbrock"].eigenvalues


def test_unknown_surface_lists_the_valid_names():
    with pytest.raises(ValueError, match="quadratic.*valley.*rosenbrock"):
        O.get_surface("himmelblau")


def test_surfaces_are_immutable():
    f = O.SURFACES["valley"]
    with pytest.raises(AttributeError):
        f.start = (0.0, 0.0)
    with pytest.raises(ValueError):
        f.hessian[0, 0] = 1.0


# ------------------------------------------------------------------------------------------------
# least-squares data
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["quadratic", "valley"])
def test_full_batch_loss_is_the_surface_plus_a_constant(name):
    f = O.SURFACES[name]
    data = O.least_squares(f, n=50, noise=0.7, seed=3)
    A, b = data.features, data.targets
    np.testing.assert_allclose(A.T @ A / data.n, f.hessian, atol=1e-12)
    pts = random_points(f, 30, seed=4)
    # independent computation: the mean of squared residuals, point by point
    direct = np.array([0.5 * np.mean((A @ w - b) ** 2) for w in pts])
    np.testing.assert_allclose(direct - f.value(pts.T), data.noise_floor, rtol=1e-9)
    np.testing.assert_allclose(data.loss(pts.T), direct, rtol=1e-12)
    assert data.noise_floor > 0.1


@pytest.mark.parametrize("name", ["quadratic", "valley"])
def test_mean_example_gradient_is_the_surface_gradient(name):
    f = O.SURFACES[name]
    data = O.least_squares(f, n=40, seed=5)
    for w in random_points(f, 10, seed=6):
        per_example = data.example_gradients(w)
        assert per_example.shape == (40, 2)
        np.testing.assert_allclose(per_example.mean(axis=0), f.grad(w), atol=1e-10)
        np.testing.assert_allclose(data.grad(w), f.grad(w), atol=1e-10)
        np.testing.assert_allclose(per_example[0], fd_gradient(lambda p: 0.5 * (data.features[0] @ p - data.targets[0]) ** 2, w), rtol=1e-6, atol=1e-6)


def test_example_gradients_do_not_vanish_at_the_minimum():
    f = O.SURFACES["quadratic"]
    data = O.least_squares(f, seed=0)
    g = data.example_gradients(f.minimum)
    np.testing.assert_allclose(g.mean(axis=0), 0.0, atol=1e-12)
    assert np.median(np.linalg.norm(g, axis=1)) > 0.5


def test_batch_gradient_is_the_mean_over_the_batch():
    data = O.least_squares(O.SURFACES["valley"], n=20, seed=1)
    w = np.array([[1.0, -2.0], [0.5, 0.25]])
    idx = np.array([[0, 3, 7], [19, 2, 2]])
    expected = np.stack([data.example_gradients(w[k])[idx[k]].mean(axis=0) for k in range(2)])
    np.testing.assert_allclose(data.batch_grad(w, idx), expected, rtol=1e-12)


def test_data_is_seeded():
    f = O.SURFACES["quadratic"]
    a, b, c = (O.least_squares(f, seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a.features, b.features)
    np.testing.assert_array_equal(a.targets, b.targets)
    assert not np.allclose(a.targets, c.targets)


@pytest.mark.parametrize("kwargs, match", [
    (dict(surface=O.SURFACES["rosenbrock"]), "positive-definite quadratic"),
    (dict(surface=O.SURFACES["quadratic"], n=2), "n must"),
    (dict(surface=O.SURFACES["quadratic"], noise=-1.0), "noise must"),
])
def test_least_squares_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        O.least_squares(**kwargs)
