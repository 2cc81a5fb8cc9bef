"""Naive float64 references for the regression family.

Each reference is the textbook formula, written independently of losskit's kernels.
Inputs of non-smooth losses are kept away from their kinks (``away_from``) so finite
differences are taken where the loss is smooth.
"""

import numpy as np

from .spec import Case, away_from

FLOAT64_EPS = np.finfo(np.float64).eps


def _pair(rng, shape=(4, 3)):
    return rng.normal(size=shape), rng.normal(size=shape)


def _pair_away(*kinks, scale=1.5, shape=(4, 3)):
    """y ~ N(0, 1), y_pred = y + d with the residual d kept away from ``kinks``."""

    def make(rng):
        y = rng.normal(size=shape)
        d = away_from(rng.normal(scale=scale, size=shape), kinks)
        return y, y + d

    return make


def _residual_extremes(*special):
    def extremes():
        out = [
            (np.array([1e150, -1e150, 0.0]), np.array([-1e150, 1e150, 0.0])),
            (np.zeros(3), np.zeros(3)),
            (np.array([0.0, 0.0, 0.0, 0.0]), np.array([1e-300, -1e-300, 1e30 / 3, -1e30 / 3])),
            (np.zeros(4), np.array([1e4, -1e4, 3e9, -3e9])),
        ]
        for d in special:
            out.append((np.zeros(2), np.array([d, -d])))
        return out

    return extremes


# -- references ----------------------------------------------------------------------------
def mse_ref(y, p):
    return (y - p) ** 2


def mae_ref(y, p):
    return np.abs(y - p)


def huber_ref(y, p, delta=1.0):
    e = np.abs(p - y)
    return np.where(e <= delta, 0.5 * e**2, delta * e - 0.5 * delta**2)


def smooth_l1_ref(y, p, beta=1.0):
    e = np.abs(p - y)
    if beta == 0:
        return e
    return np.where(e < beta, 0.5 * e**2 / beta, e - 0.5 * beta)


def log_cosh_ref(y, p):
    return np.log(np.cosh(p - y))


def pseudo_huber_ref(y, p, delta=1.0):
    return delta**2 * (np.sqrt(1 + ((p - y) / delta) ** 2) - 1)


def msle_ref(y, p, epsilon=None):
    if epsilon is not None:
        y, p = np.maximum(y, epsilon), np.maximum(p, epsilon)
    return (np.log(1 + p) - np.log(1 + y)) ** 2


def mape_ref(y, p, percent=True, epsilon=None):
    eps = FLOAT64_EPS if epsilon is None else epsilon
    return (100.0 if percent else 1.0) * np.abs(y - p) / np.maximum(np.abs(y), eps)


def poisson_ref(y, p, log_input=False, full=False, epsilon=1e-8):
    if log_input:
        out = np.exp(p) - y * p
    else:
        out = p - y * np.log(p + epsilon)
    if full:
        with np.errstate(all="ignore"):
            stirling = y * np.log(y) - y + 0.5 * np.log(2 * np.pi * y)
        out = out + np.where(y > 1, stirling, 0.0)
    return out


def gaussian_nll_ref(y, p, var=1.0, full=False, epsilon=1e-6):
    v = np.asarray(var, dtype=float)
    if v.ndim and v.shape != p.shape and v.shape == p.shape[:-1]:
        v = v[..., None]
    v = np.maximum(v, epsilon)
    out = 0.5 * (np.log(v) + (y - p) ** 2 / v)
    return out + 0.5 * np.log(2 * np.pi) if full else out


def quantile_ref(y, p, quantile=0.5):
    q = np.asarray(quantile, dtype=float)
    if q.ndim:
        y = y[..., None]
    under = y - p
    out = np.maximum(q * under, (q - 1) * under)
    return out.mean(axis=-1) if q.ndim else out


# -- input makers ----------------------------------------------------------------------------
def _msle_pair(rng, shape=(4, 3)):
    return rng.uniform(0.0, 5.0, size=shape), rng.uniform(-0.6, 5.0, size=shape)


def _msle_keras_pair(rng, shape=(4, 3)):
    # negatives and values below the floor are clipped to epsilon (gradient 0 there)
    return rng.uniform(-3.0, 4.0, size=shape), away_from(rng.uniform(-3.0, 4.0, size=shape), [1e-7])


def _mape_pair(rng, shape=(4, 3)):
    y = rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.3, 4.0, size=shape)
    return y, y + away_from(rng.normal(size=shape), [0.0])


def _mape_pair_with_zero_targets(rng, shape=(4, 3)):
    y, p = _mape_pair(rng, shape)
    y[0, :] = 0.0
    y[1, 0] = 1e-4  # below the floor: divides by epsilon
    return y, away_from(p, [0.0, 1e-4])


def _counts_and_rates(rng, shape=(4, 3)):
    y = rng.poisson(2.5, size=shape).astype(float)
    y[0, 0], y[0, 1] = 0.0, 1.0  # the Stirling term is 0 for y <= 1
    return y, rng.uniform(0.05, 6.0, size=shape)


def _counts_and_log_rates(rng, shape=(4, 3)):
    y = rng.poisson(2.5, size=shape).astype(float)
    y[0, 0], y[0, 1] = 0.0, 1.0
    return y, rng.normal(scale=1.5, size=shape)


def _quantile_multi(rng):
    y = rng.normal(size=(4,))
    return y, y[:, None] + away_from(rng.normal(scale=1.5, size=(4, 3)), [0.0])


# -- extremes and invalid inputs ------------------------------------------------------------
def _msle_extremes():
    return [
        (np.array([0.0, -0.999999, 2.0]), np.array([-0.999999, 0.0, 0.0])),
        (np.array([0.0, 1e300]), np.array([1e300, 0.0])),
        (np.zeros(3), np.zeros(3)),
    ]


def _msle_keras_extremes():
    return [
        (np.array([-1e150, 0.0, 5.0]), np.array([0.0, -1e150, 1e150])),
        (np.array([-5.0, -1.0, -2.0, 0.0]), np.array([-1.0, -5.0, 1e-7, 1e-7])),
    ]


def _msle_invalid():
    return [
        (np.array([-1.0, 0.0]), np.array([0.0, 0.0])),
        (np.array([0.0, 0.0]), np.array([0.5, -1.5])),
    ]


def _mape_extremes():
    return [
        (np.array([0.0, 0.0, 1e-300, -1e-300]), np.array([1.0, -1.0, 0.0, 1.0])),
        (np.array([1e-30, 1e30, -1e30]), np.array([1e31, -1e30, 0.0])),  # float64 only (|y_pred| > 1e30)
        (np.array([1e-30, 1e20, -1e20]), np.array([1e20, -1e20, 0.0])),
        (np.zeros(3), np.zeros(3)),
    ]


def _poisson_rate_extremes():
    return [
        (np.array([0.0, 5.0, 1e6, 0.0]), np.array([0.0, 0.0, 0.0, 1e6])),
        (np.array([1e20, 0.0, 1e20]), np.array([1e-300, 1e31, 1e31])),  # float64 only (|y_pred| > 1e30)
    ]


def _poisson_log_extremes():
    return [
        (np.array([0.0, 3.0, 1e6, 0.0]), np.array([-1e4, -1e4, 80.0, 0.0])),
        (np.array([1e250, 0.0, 1e6]), np.array([-1e31, 700.0, -700.0])),  # float64 only (|y_pred| > 1e30)
    ]


def _poisson_invalid():
    return [
        (np.array([-1.0, 0.0]), np.array([1.0, 1.0])),  # negative count
        (np.array([1.0, 0.0]), np.array([-0.5, 1.0])),  # negative rate
    ]


def _poisson_log_invalid():
    return [(np.array([-1.0, 0.0]), np.array([1.0, 1.0]))]


def _gaussian_extremes():
    return [
        (np.zeros(3), np.array([1e4, -1e4, 0.0])),
        (np.array([1e150, -1e150]), np.array([-1e150, 1e150])),
    ]


def _quantile_multi_extremes():
    return [
        (np.array([1e150, -1e150]), np.array([[0.0, 1e150, -1e150], [1e150, 0.0, -1e150]])),
        (np.zeros(2), np.zeros((2, 3))),
    ]


CASES = [
    Case("mean_squared_error", _pair, mse_ref,
         extremes=lambda: [(np.array([1e150, -1e150]), np.array([-1e150, 1e150])), (np.zeros(3), np.zeros(3))]),
    # MAE: subgradient 0 at a zero residual, Hessian 0 (FD away from the kink at 0).
    Case("mean_absolute_error", _pair_away(0.0), mae_ref, extremes=_residual_extremes()),
    Case("huber", _pair_away(-1.0, 1.0), huber_ref, extremes=_residual_extremes(1.0)),
    Case("huber", _pair_away(-0.3, 0.3), huber_ref, {"delta": 0.3}, extremes=_residual_extremes(0.3)),
    Case("smooth_l1", _pair_away(-1.0, 1.0), smooth_l1_ref, extremes=_residual_extremes(1.0)),
    Case("smooth_l1", _pair_away(-2.5, 2.5), smooth_l1_ref, {"beta": 2.5}, extremes=_residual_extremes(2.5)),
    Case("smooth_l1", _pair_away(0.0), smooth_l1_ref, {"beta": 0.0}, extremes=_residual_extremes()),
    Case("log_cosh", _pair_away(scale=3.0), log_cosh_ref, extremes=_residual_extremes(800.0, 1.0, 20.0)),
    Case("pseudo_huber", _pair_away(scale=3.0), pseudo_huber_ref, extremes=_residual_extremes(1e-9, 1e200)),
    Case("pseudo_huber", _pair_away(scale=3.0), pseudo_huber_ref, {"delta": 0.25},
         extremes=_residual_extremes(1e-9)),
    Case("mean_squared_logarithmic_error", _msle_pair, msle_ref, extremes=_msle_extremes, invalid=_msle_invalid),
    Case("mean_squared_logarithmic_error", _msle_keras_pair, msle_ref, {"epsilon": 1e-7},
         extremes=_msle_keras_extremes, name="keras,epsilon=1e-7"),
    Case("mean_absolute_percentage_error", _mape_pair, mape_ref, extremes=_mape_extremes),
    Case("mean_absolute_percentage_error", _mape_pair_with_zero_targets, mape_ref,
         {"percent": False, "epsilon": 1e-3}, extremes=_mape_extremes),
    Case("poisson", _counts_and_rates, poisson_ref, extremes=_poisson_rate_extremes, invalid=_poisson_invalid),
    Case("poisson", _counts_and_rates, poisson_ref, {"epsilon": 1e-7, "full": True},
         extremes=_poisson_rate_extremes),
    Case("poisson", _counts_and_log_rates, poisson_ref, {"log_input": True},
         extremes=_poisson_log_extremes, invalid=_poisson_log_invalid),
    Case("poisson", _counts_and_log_rates, poisson_ref, {"log_input": True, "full": True},
         extremes=_poisson_log_extremes),
    Case("gaussian_nll", _pair, gaussian_nll_ref, extremes=_gaussian_extremes),
    Case("gaussian_nll", _pair, gaussian_nll_ref, {"var": 0.3, "full": True}, name="var=0.3,full"),
    Case("gaussian_nll", _pair, gaussian_nll_ref,
         {"var": [[0.5, 2.0, 0.01], [1.0, 0.1, 3.0], [0.0, 4.0, 0.7], [1.5, 1.5, 0.2]], "epsilon": 0.05},
         name="var=per-element,clamped"),
    Case("gaussian_nll", _pair, gaussian_nll_ref, {"var": [0.5, 2.0, 0.25, 1.0], "epsilon": 0.3},
         name="var=per-row,epsilon=0.3"),
    Case("gaussian_nll", _pair, gaussian_nll_ref, {"var": [[0.5, 2.0, 0.25]]}, name="var=(1,3)"),
    Case("quantile", _pair_away(0.0), quantile_ref, extremes=_residual_extremes()),
    Case("quantile", _pair_away(0.0), quantile_ref, {"quantile": 0.1}, extremes=_residual_extremes()),
    Case("quantile", _pair_away(0.0), quantile_ref, {"quantile": 0.9}),
    Case("quantile", _quantile_multi, quantile_ref, {"quantile": [0.1, 0.5, 0.9]},
         extremes=_quantile_multi_extremes, name="quantile=[0.1,0.5,0.9]"),
]
