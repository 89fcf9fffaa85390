"""Encoder blocks: HSTU (Zhai et al. 2024, "Actions Speak Louder than Words") and the
softmax-attention transformer block SASRec uses, kept as the baseline to beat.

Both take left-padded sequences [B, L, d] and a boolean `allowed` mask [B, 1, L, L]
(causal and not padding) and return [B, L, d].
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def log_time_bucket(seconds: torch.Tensor, n_buckets: int) -> torch.Tensor:
    """Bucket |dt| on a log scale (bucket 0 = under 1 s, last bucket = everything beyond)."""
    b = torch.log(seconds.abs().clamp(min=1.0)) / 0.301  # base-2-ish, as generative-recommenders
    return b.long().clamp(0, n_buckets - 1)


class RelativeBias(nn.Module):
    """Learned attention bias from the distance in positions and, when known, in time."""

    def __init__(self, max_len: int, n_time_buckets: int = 64):
        super().__init__()
        self.max_len = max_len
        self.n_time_buckets = n_time_buckets
        self.pos = nn.Parameter(torch.zeros(2 * max_len - 1))
        self.time = nn.Parameter(torch.zeros(n_time_buckets + 1))  # last slot: time unknown

    def forward(self, ts: torch.Tensor | None, L: int) -> torch.Tensor:
        idx = torch.arange(L, device=self.pos.device)
        bias = self.pos[(idx[None, :] - idx[:, None]) + self.max_len - 1][None]  # [1, L, L]
        if ts is not None:  # ts: [B, L] seconds, NaN when unknown
            dt = ts[:, :, None] - ts[:, None, :]
            bucket = log_time_bucket(torch.nan_to_num(dt), self.n_time_buckets)
            bucket = torch.where(torch.isnan(dt), self.n_time_buckets, bucket)
            bias = bias + self.time[bucket]  # [B, L, L]
        return bias[:, None]  # broadcast over heads


class HSTUBlock(nn.Module):
    """Pointwise (SiLU) attention with relative bias and a gated output, as in HSTU."""

    def __init__(self, d: int, n_heads: int, max_len: int, dropout: float, d_head: int | None = None,
                 time_bias: bool = True):
        super().__init__()
        self.n_heads = n_heads
        self.d_head = d_head or max(8, d // n_heads)
        self.norm_in = nn.LayerNorm(d)
        self.uvqk = nn.Linear(d, 4 * n_heads * self.d_head)
        self.norm_attn = nn.LayerNorm(n_heads * self.d_head)
        self.out = nn.Linear(n_heads * self.d_head, d)
        self.bias = RelativeBias(max_len)
        self.time_bias = time_bias
        self.max_len = max_len
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor, ts: torch.Tensor | None) -> torch.Tensor:
        B, L, _ = x.shape
        H, D = self.n_heads, self.d_head
        u, v, q, k = F.silu(self.uvqk(self.norm_in(x))).split(H * D, dim=-1)
        q, k, v = (t.view(B, L, H, D).transpose(1, 2) for t in (q, k, v))
        scores = q @ k.transpose(-1, -2) + self.bias(ts if self.time_bias else None, L).to(q.dtype)
        # No softmax: the intensity of engagement is kept. Divide by the fixed max_len, not by
        # this batch's padded length, so training and serving see the same scale.
        attn = F.silu(scores) * allowed / self.max_len
        o = (attn @ v).transpose(1, 2).reshape(B, L, H * D)
        return x + self.out(self.dropout(u * self.norm_attn(o)))


class SoftmaxBlock(nn.Module):
    """Pre-norm transformer block (SASRec, Kang & McAuley 2018): softmax attention + FFN."""

    def __init__(self, d: int, n_heads: int, max_len: int, dropout: float):
        super().__init__()
        self.n_heads = n_heads
        self.norm1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d)
        self.ffn = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Dropout(dropout), nn.Linear(4 * d, d))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor, ts: torch.Tensor | None) -> torch.Tensor:
        B, L, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(d, dim=-1)
        q, k, v = (t.view(B, L, self.n_heads, d // self.n_heads).transpose(1, 2) for t in (q, k, v))
        # No dropout on the attention matrix (for either block): on CPU it costs more than
        # the attention itself; dropout stays on embeddings, outputs and the FFN.
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        x = x + self.dropout(self.proj(o.transpose(1, 2).reshape(B, L, d)))
        return x + self.dropout(self.ffn(self.norm2(x)))


def init_weights(module: nn.Module) -> None:
    """Small normal init for linear/embedding weights (GPT-2 style)."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, std=1.0 / math.sqrt(module.embedding_dim))
