"""The pinball (quantile) loss: values and gradients against PyTorch autograd and float64
finite differences (Keras 3 has no quantile loss), TF Addons' one-quantile semantics,
config, names and errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.peers import require
from unrolled.errors import ConfigError, InputShapeError
from unrolled.training import losses as L

QUANTILES = [0.1, 0.5, 0.9]


def torch_pinball(y_true, y_pred, quantiles, sample_weight=None):
    """The same definition written in torch, differentiated by autograd: per sample the
    mean over the last axis of max(τe, (τ-1)e), e = y - ŷ, then Keras's batch mean."""
    torch = require("torch")
    yp = torch.tensor(y_pred, dtype=torch.float64, requires_grad=True)
    yt = torch.tensor(y_true, dtype=torch.float64)
    q = len(quantiles)
    if yt.shape[-1] * q == yp.shape[-1] and q > 1:
        yt = torch.repeat_interleave(yt, q, dim=-1)
    tau = torch.tensor(quantiles, dtype=torch.float64).repeat(yp.shape[-1] // q)
    e = yt - yp
    values = torch.maximum(tau * e, (tau - 1) * e).mean(dim=-1)
    if sample_weight is not None:
        values = values * torch.tensor(sample_weight, dtype=torch.float64)
    loss = values.sum() / values.numel()
    loss.backward()
    return float(loss.detach()), yp.grad.numpy()


@pytest.mark.parametrize("shape,k_only", [((5, 6), True), ((5, 6), False), ((2, 4, 9), True)])
def test_values_and_gradients_match_torch(shape, k_only):
    rng = np.random.default_rng(sum(shape) + k_only)
    y_pred = rng.normal(size=shape)
    true_shape = shape[:-1] + (shape[-1] // 3,) if k_only else shape
    y_true = rng.normal(size=true_shape)  # ties (e = 0) have probability 0
    w = rng.uniform(0.5, 2, size=shape[:-1])
    loss, grad = L.Pinball(QUANTILES, dtype="float64").value_and_grad(y_true, y_pred, w)
    t_loss, t_grad = torch_pinball(y_true, y_pred, QUANTILES, w)
    assert loss == pytest.approx(t_loss, rel=1e-12)
    assert grad.dtype == np.float64 and grad.shape == y_pred.shape
    np.testing.assert_allclose(grad, t_grad, rtol=1e-12, atol=1e-15)


def test_gradient_matches_float64_finite_differences():
    rng = np.random.default_rng(7)
    y_true, y_pred = rng.normal(size=(4, 2)), rng.normal(size=(4, 6))
    w = rng.uniform(0.5, 2, size=4)
    loss = L.Pinball([0.05, 0.5, 0.8], dtype="float64")
    _, grad = loss.value_and_grad(y_true, y_pred, w)
    fd = np.zeros_like(y_pred)
    h = 1e-6
    for i in np.ndindex(y_pred.shape):
        up, down = y_pred.copy(), y_pred.copy()
        up[i] += h
        down[i] -= h
        fd[i] = (loss(y_true, up, w) - loss(y_true, down, w)) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)


def test_one_quantile_is_tf_addons_pinball_loss_by_hand():
    # TF Addons' PinballLoss(tau=0.1): mean over the last axis of the pinball, then the
    # batch mean. e = 1 - 0 = 1 costs τ = 0.1; e = 0 - 2 = -2 costs (1 - τ)·2 = 1.8.
    loss = L.Pinball(tau=0.1)
    assert loss.quantiles == [0.1] and loss.name == "pinball_loss"
    assert loss([[1.0, 0.0]], [[0.0, 2.0]]) == pytest.approx((0.1 + 1.8) / 2)
    # at a tie (e = 0) the gradient is -τ / n, TensorFlow's choice for maximum's tie
    _, grad = L.Pinball(tau=0.3, dtype="float64").value_and_grad([[1.0, 1.0]], [[1.0, 0.0]])
    np.testing.assert_allclose(grad, [[-0.3 / 2, -0.3 / 2]])


def test_minimiser_of_the_expected_loss_is_the_quantile():
    # the reason it trains quantiles: over samples of y, argmin_c E pinball_τ(y - c) is
    # the τ-quantile of y (to within the grid step)
    y = np.random.default_rng(0).standard_t(df=3, size=4001)
    grid = np.linspace(-4, 4, 801)
    for tau in (0.1, 0.5, 0.9):
        costs = [L.pinball(y[:, None], np.full((len(y), 1), c), [tau]).mean() for c in grid]
        assert grid[int(np.argmin(costs))] == pytest.approx(np.quantile(y, tau), abs=0.02)


def test_config_names_and_errors():
    loss = L.Pinball([0.2, 0.8], name="q")
    assert loss.get_config() == {"name": "q", "reduction": "sum_over_batch_size",
                                 "quantiles": [0.2, 0.8]}
    back = L.deserialize(json.loads(json.dumps(L.serialize(loss))))
    assert type(back) is L.Pinball and back.get_config() == loss.get_config()
    for name in ("pinball", "pinball_loss", "Pinball", "PinballLoss", "quantile"):
        assert type(L.get(name)) is L.Pinball
    import unrolled.losses

    assert unrolled.losses.Pinball is L.Pinball
    with pytest.raises(ConfigError, match="strictly between 0 and 1"):
        L.Pinball([0.5, 1.0])
    with pytest.raises(InputShapeError, match=r"2 quantiles.*\(3, 5\)"):
        L.Pinball([0.2, 0.8])(np.zeros((3, 2)), np.zeros((3, 5)))
    with pytest.raises(InputShapeError, match=r"\(3, 3\).*\(3, 4\)"):
        L.Pinball([0.2, 0.8])(np.zeros((3, 3)), np.zeros((3, 4)))
