"""CanonicalState: the compiled PIRLS's states keep η and μ in the canonical row order and
put them in the data's order when first read."""

import pickle

import numpy as np

from mixedfx.glmm.state import CanonicalState


def _state() -> CanonicalState:
    order = np.array([2, 0, 1])           # data row order[k] holds canonical row k
    return CanonicalState.make(np.array([10.0, 20.0, 30.0]), np.array([0.1, 0.2, 0.3]),
                               order, u=[np.zeros((1, 1))], beta=np.zeros(1),
                               dev_resid_sum=1.5, ussq=0.5)


def test_scatter_on_read():
    s = _state()
    np.testing.assert_array_equal(s.eta, [20.0, 30.0, 10.0])
    np.testing.assert_array_equal(s.mu, [0.2, 0.3, 0.1])
    eta_c, mu_c = s.canonical_rows()
    np.testing.assert_array_equal(eta_c, [10.0, 20.0, 30.0])
    np.testing.assert_array_equal(mu_c, [0.1, 0.2, 0.3])
    assert s.pdev == 2.0 and s.lag == np.inf and s.factor is None and s.templates is None


def test_assignment_drops_the_kernel_copy_but_keeps_the_other_array():
    s = _state()
    s.eta = np.ones(3)
    assert s.canonical_rows() is None
    np.testing.assert_array_equal(s.eta, np.ones(3))
    np.testing.assert_array_equal(s.mu, [0.2, 0.3, 0.1])


def test_pickles():
    s = pickle.loads(pickle.dumps(_state()))
    assert isinstance(s, CanonicalState)
    np.testing.assert_array_equal(s.eta, [20.0, 30.0, 10.0])


def test_the_kernels_constructor_is_make_by_position():
    """`CanonicalState.of_kernel` gives the state `make` gives: the same attributes, in the
    same order, the same values, and η, μ scattered into the data's order when read."""
    eta_c, mu_c, order = np.array([0.5, -1.0, 2.0]), np.array([0.6, 0.3, 0.9]), np.array([2, 0, 1])
    u, beta = [np.array([[0.1], [0.2]])], np.array([1.5, -0.5])
    a = CanonicalState.make(eta_c, mu_c, order, u=u, beta=beta, dev_resid_sum=3.0, ussq=0.05,
                            factor="f", iterations=4, loglik_kernel=-7.0, lag=0.0)
    b = CanonicalState.of_kernel(eta_c, mu_c, order, u, beta, 3.0, 0.05, "f", 4, -7.0, 0.0)
    assert list(a.__dict__) == list(b.__dict__)
    for key, value in a.__dict__.items():
        assert b.__dict__[key] is value or b.__dict__[key] == value, key
    assert b.eta.tolist() == a.eta.tolist() == [-1.0, 2.0, 0.5]
    assert b.mu.tolist() == a.mu.tolist() and b.pdev == a.pdev
