"""Full-catalogue softmax cross-entropy without materialising the [N, catalogue] logits.

`q @ E.T` followed by `cross_entropy` writes, reads and upcasts a logits tensor of
N x catalogue floats several times; on a CPU that memory traffic, not the matmul,
is most of a training step. Here the logits are built chunk by chunk (small enough
to stay in cache), and the backward pass recomputes them instead of storing them.
"""

from __future__ import annotations

import torch


class _ChunkedSoftmaxCE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q: torch.Tensor, emb: torch.Tensor, target: torch.Tensor, chunk: int,
                low_precision: bool) -> torch.Tensor:
        mm_dtype = torch.bfloat16 if low_precision else torch.float32
        qm, em = q.detach().to(mm_dtype), emb.detach().to(mm_dtype)
        lse = torch.empty(len(q), dtype=torch.float32, device=q.device)
        total = torch.zeros((), dtype=torch.float32, device=q.device)
        for s in range(0, len(q), chunk):
            logits = (qm[s:s + chunk] @ em.T).float()
            lse[s:s + chunk] = torch.logsumexp(logits, dim=1)
            picked = logits.gather(1, target[s:s + chunk, None]).squeeze(1)
            total += (lse[s:s + chunk] - picked).sum()
        ctx.save_for_backward(qm, em, target, lse)
        ctx.chunk = chunk
        ctx.dtypes = (q.dtype, emb.dtype)
        return total / len(q)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        qm, em, target, lse = ctx.saved_tensors
        scale = grad_out.float() / len(qm)
        grad_q = torch.empty(qm.shape, dtype=torch.float32, device=qm.device)
        grad_e = torch.zeros(em.shape, dtype=torch.float32, device=qm.device)
        rows = torch.arange(ctx.chunk, device=qm.device)
        for s in range(0, len(qm), ctx.chunk):
            qc = qm[s:s + ctx.chunk]
            p = torch.exp((qc @ em.T).float() - lse[s:s + ctx.chunk, None])  # softmax
            p[rows[: len(qc)], target[s:s + ctx.chunk]] -= 1.0  # minus the one-hot target
            p = (p * scale).to(qm.dtype)
            grad_q[s:s + ctx.chunk] = (p @ em).float()
            grad_e += (p.T @ qc).float()
        return grad_q.to(ctx.dtypes[0]), grad_e.to(ctx.dtypes[1]), None, None, None


def softmax_cross_entropy(q: torch.Tensor, emb: torch.Tensor, target: torch.Tensor, chunk: int = 2048,
                          low_precision: bool | None = None) -> torch.Tensor:
    """mean_i CE(softmax(q_i . emb^T), target_i); same value and gradients as
    `F.cross_entropy(q @ emb.T, target)` up to floating-point rounding.

    low_precision (default: whether autocast is on) does the matmuls in bfloat16;
    the softmax itself is always float32."""
    if low_precision is None:
        low_precision = torch.is_autocast_enabled(q.device.type)
    with torch.autocast(q.device.type, enabled=False):
        return _ChunkedSoftmaxCE.apply(q, emb, target, chunk, low_precision)
