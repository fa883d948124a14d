"""Log-domain Sinkhorn: agreement with POT, marginals, small-reg stability, batching, gradients, autocast."""

from __future__ import annotations

import warnings

import pytest
import torch

from ssclip.pseudo.sinkhorn import row_normalized, sinkhorn_log

ot = pytest.importorskip("ot")


def _cosine_cost(n_rows: int, n_cols: int, dim: int = 16, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.normalize(torch.randn(n_rows, dim, generator=gen), dim=-1)
    y = torch.nn.functional.normalize(torch.randn(n_cols, dim, generator=gen), dim=-1)
    return 1 - x @ y.T  # in [0, 2], like S-CLIP's image-image cost


@pytest.mark.parametrize("shape", [(5, 7), (8, 8), (12, 3), (32, 32)])
@pytest.mark.parametrize("reg", [0.01, 0.05, 0.2, 1.0])
@pytest.mark.parametrize("n_iters", [1, 10, 25])
def test_matches_pot_sinkhorn_log(shape: tuple[int, int], reg: float, n_iters: int) -> None:
    cost = _cosine_cost(*shape, seed=shape[0] * 100 + shape[1])
    a = torch.full((shape[0],), 1 / shape[0])
    b = torch.full((shape[1],), 1 / shape[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "did not converge" is expected with few iterations
        expected = ot.sinkhorn(a, b, cost, reg, method="sinkhorn_log", numItermax=n_iters, stopThr=0)
    plan = sinkhorn_log(cost, reg, n_iters=n_iters)
    assert plan.dtype == torch.float32
    # Row-normalized plans are O(1), so an absolute tolerance is meaningful for them.
    torch.testing.assert_close(row_normalized(plan), row_normalized(expected), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(plan, expected, rtol=1e-4, atol=1e-7)


def test_matches_pot_with_nonuniform_marginals() -> None:
    cost = _cosine_cost(6, 9, seed=3)
    gen = torch.Generator().manual_seed(1)
    a = torch.rand(6, generator=gen) + 0.1
    b = torch.rand(9, generator=gen) + 0.1
    a, b = a / a.sum(), b / b.sum()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = ot.sinkhorn(a, b, cost, 0.1, method="sinkhorn_log", numItermax=10, stopThr=0)
    torch.testing.assert_close(sinkhorn_log(cost, 0.1, 10, a=a, b=b), expected, rtol=1e-4, atol=1e-7)


def test_update_order_matters() -> None:
    """The other order (rows first) gives a different plan, so agreement above is not a coincidence."""
    cost = _cosine_cost(16, 16, seed=5)
    log_k = -cost / 0.01
    u = torch.zeros(16)
    v = torch.zeros(16)
    log_m = -torch.log(torch.tensor(16.0))
    for _ in range(10):
        u = log_m - torch.logsumexp(log_k + v[None, :], dim=1)
        v = log_m - torch.logsumexp(log_k + u[:, None], dim=0)
    rows_first = torch.exp(log_k + u[:, None] + v[None, :])
    ours = sinkhorn_log(cost, 0.01, 10)
    assert (row_normalized(rows_first) - row_normalized(ours)).abs().max() > 1e-3


def test_marginals() -> None:
    cost = _cosine_cost(20, 30, seed=7)
    plan = sinkhorn_log(cost, 0.05, n_iters=10)
    # u is updated last: the row marginals are exact.
    torch.testing.assert_close(plan.sum(-1), torch.full((20,), 1 / 20), rtol=1e-5, atol=1e-7)
    col_err_10 = (plan.sum(-2) - 1 / 30).abs().max()
    col_err_500 = (sinkhorn_log(cost, 0.05, n_iters=500).sum(-2) - 1 / 30).abs().max()
    assert col_err_10 < 1 / 30  # roughly uniform already
    assert col_err_500 < 1e-6  # and converges with more iterations
    assert col_err_500 < col_err_10 / 10


def test_stable_at_small_reg_where_exp_domain_underflows() -> None:
    cost = _cosine_cost(64, 64, seed=11) * 1.0
    cost[0] = 2.0  # a row as far from everything as possible
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exp_domain = ot.sinkhorn(torch.full((64,), 1 / 64), torch.full((64,), 1 / 64), cost, 0.01, numItermax=10)
    # POT's exp-domain solver degenerates here (rows with ~zero mass), which is why we work in logs.
    assert exp_domain.sum(-1).min() < 1e-3 / 64
    plan = sinkhorn_log(cost, 0.01, n_iters=10)
    assert torch.isfinite(plan).all()
    torch.testing.assert_close(plan.sum(-1), torch.full((64,), 1 / 64), rtol=1e-5, atol=1e-8)
    assert torch.isfinite(row_normalized(plan)).all()


def test_batch_equals_loop() -> None:
    costs = torch.stack([_cosine_cost(7, 5, seed=s) for s in range(6)]).reshape(2, 3, 7, 5)
    batched = sinkhorn_log(costs, 0.05, n_iters=10)
    assert batched.shape == (2, 3, 7, 5)
    for i in range(2):
        for j in range(3):
            torch.testing.assert_close(batched[i, j], sinkhorn_log(costs[i, j], 0.05, n_iters=10))


def test_per_problem_reg() -> None:
    costs = torch.stack([_cosine_cost(6, 6, seed=s) for s in range(3)])
    regs = torch.tensor([0.01, 0.1, 1.0])
    batched = sinkhorn_log(costs, regs, n_iters=10)
    for i in range(3):
        torch.testing.assert_close(batched[i], sinkhorn_log(costs[i], float(regs[i]), n_iters=10))


def test_gradients_flow_to_cost_and_temperature() -> None:
    gen = torch.Generator().manual_seed(0)
    feats_u = torch.randn(8, 16, generator=gen, requires_grad=True)
    feats_x = torch.randn(6, 16, generator=gen, requires_grad=True)
    logit_scale = torch.tensor(50.0, requires_grad=True)
    normalize = torch.nn.functional.normalize
    cost = 1 - normalize(feats_u, dim=-1) @ normalize(feats_x, dim=-1).T
    plan = sinkhorn_log(cost, 1 / logit_scale, n_iters=10)
    target = row_normalized(plan)
    loss = (target * torch.arange(6.0)).sum()
    loss.backward()
    for grad in (feats_u.grad, feats_x.grad, logit_scale.grad):
        assert grad is not None
        assert torch.isfinite(grad).all()
        assert grad.abs().sum() > 0


def test_autocast_bfloat16_returns_float32() -> None:
    cost = _cosine_cost(10, 12, seed=2)
    reference = sinkhorn_log(cost, 0.01, n_iters=10)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        plan = sinkhorn_log(cost.bfloat16(), 0.01, n_iters=10)
        plan_fp32_input = sinkhorn_log(cost, 0.01, n_iters=10)
    assert plan.dtype == torch.float32
    assert torch.isfinite(plan).all()
    torch.testing.assert_close(plan_fp32_input, reference)
    # The bf16 input itself is coarse, but the solve is in float32: rows still sum exactly.
    torch.testing.assert_close(plan.sum(-1), torch.full((10,), 0.1), rtol=1e-5, atol=1e-7)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="shape"):
        sinkhorn_log(torch.zeros(3), 0.1)
    with pytest.raises(ValueError, match="reg"):
        sinkhorn_log(torch.zeros(3, 3), 0.0)
    with pytest.raises(ValueError, match="'b'"):
        sinkhorn_log(torch.zeros(3, 4), 0.1, b=torch.full((3,), 1 / 3))
