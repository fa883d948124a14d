"""Entropic optimal transport in the log domain, batched, with a fixed iteration count.

S-CLIP builds caption-level pseudo-labels from the OT plan between unpaired and paired image embeddings,
with the regularization tied to the CLIP temperature (reg = 1 / logit_scale, about 0.01). At that
regularization the exp-domain Sinkhorn-Knopp solver underflows in float32 (exp(-100 * 2) == 0), so we
iterate on log-potentials instead. The loop has a fixed length and no data-dependent Python branches, so
it never forces a host-device sync and stays differentiable end to end (the caller decides whether to
detach the plan).

Update order matches POT's ``ot.sinkhorn(..., method="sinkhorn_log")``: each iteration updates the column
potential ``v`` first and the row potential ``u`` second. Consequently the row marginals of the returned
plan are exact (up to rounding) and the column marginals are only approximately met after few iterations.
With the other order (u then v) the plans differ noticeably after 10 iterations.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["sinkhorn_log", "row_normalized"]


def _log_marginal(weights: Tensor | None, size: int, like: Tensor, name: str) -> Tensor:
    """Log of a marginal; uniform 1/size when not given. Shape (..., size), broadcastable to ``like``."""
    if weights is None:
        return torch.full((size,), -math.log(size), dtype=torch.float32, device=like.device)
    if weights.shape[-1] != size:
        raise ValueError(
            f"sinkhorn_log: marginal {name!r} has last dimension {weights.shape[-1]}, "
            f"expected {size} to match the cost matrix"
        )
    return weights.to(device=like.device, dtype=torch.float32).log()


def sinkhorn_log(
    cost: Tensor,
    reg: float | Tensor,
    n_iters: int = 10,
    a: Tensor | None = None,
    b: Tensor | None = None,
) -> Tensor:
    """Entropic OT plan ``argmin <P, cost> + reg * sum P log P``, row marginal ``a``, column marginal ``b``.

    Args:
        cost: cost matrices of shape (..., M, N); leading dimensions are independent problems.
        reg: entropic regularization, > 0. A Python float, a 0-dim tensor (e.g. ``1 / logit_scale``, in which
            case gradients reach the temperature), or a tensor of the batch shape (...) with one value per
            problem.
        n_iters: number of Sinkhorn iterations, always all executed (no convergence test).
        a: row marginal, shape (M,) or (..., M), strictly positive; default uniform 1/M.
        b: column marginal, shape (N,) or (..., N), strictly positive; default uniform 1/N.

    Returns:
        The plan, float32, shape (..., M, N). Computed in float32 with autocast disabled, whatever the
        input dtype or the surrounding autocast context.
    """
    if cost.dim() < 2:
        raise ValueError(f"sinkhorn_log: cost must have shape (..., M, N), got {tuple(cost.shape)}")
    if n_iters < 1:
        raise ValueError(f"sinkhorn_log: n_iters must be >= 1, got {n_iters}")
    if isinstance(reg, (int, float)) and reg <= 0:
        raise ValueError(f"sinkhorn_log: reg must be > 0, got {reg}")
    n_rows, n_cols = cost.shape[-2], cost.shape[-1]

    # Under fp16/bf16 autocast logsumexp of -cost/reg loses the small differences that define the plan.
    with torch.autocast(device_type=cost.device.type, enabled=False):
        cost = cost.float()
        reg_t = torch.as_tensor(reg, device=cost.device).float()
        if reg_t.dim() > 0:  # one regularization per problem in the batch
            reg_t = reg_t[..., None, None]
        log_kernel = -cost / reg_t
        log_a = _log_marginal(a, n_rows, cost, "a")
        log_b = _log_marginal(b, n_cols, cost, "b")

        batch_shape = log_kernel.shape[:-2]
        u = torch.zeros(*batch_shape, n_rows, device=cost.device)
        v = torch.zeros(*batch_shape, n_cols, device=cost.device)
        for _ in range(n_iters):
            v = log_b - torch.logsumexp(log_kernel + u[..., :, None], dim=-2)
            u = log_a - torch.logsumexp(log_kernel + v[..., None, :], dim=-1)
        return torch.exp(log_kernel + u[..., :, None] + v[..., None, :])


def row_normalized(plan: Tensor) -> Tensor:
    """Each row rescaled to sum to 1: the soft assignment of every row item over the columns."""
    return plan / plan.sum(-1, keepdim=True)
