"""FlowTransformer (Manocchio et al., 2023): the basic transformer over W-flow windows with the
LastToken classification head, which the paper recommends (global average pooling is the
documented bad choice).

Input encoding ("categorical feature embed"): one embedding table per categorical feature
(sizes from the preprocessor's levels; id 0 = unseen, also used for padding rows), concatenated
with the numeric features of each flow, then projected to d_model. Learned positions, N post-LN
encoder blocks, padding rows masked out of the attention keys, and the last position's state
(the scored flow) through a linear layer to the classes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn


@dataclass
class FlowTransformerConfig:
    window: int
    n_numeric: int
    categorical_levels: list[int]  # levels per categorical feature, excluding id 0 (unseen)
    n_classes: int
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 128
    embed_dim: int = 8
    dropout: float = 0.1

    def to_dict(self) -> dict:
        return asdict(self)


class EncoderBlock(nn.Module):
    """Post-LN transformer encoder block: x = LN(x + MHA(x)); x = LN(x + FFN(x))."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        assert d_model % n_heads == 0
        self.n_heads = n_heads
        self.d_head = d_model // n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.ln1 = nn.LayerNorm(d_model, eps=1e-6)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model))
        self.ln2 = nn.LayerNorm(d_model, eps=1e-6)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, key_bias: torch.Tensor) -> torch.Tensor:
        # x [B, W, D]; key_bias [B, 1, 1, W] additive (0 or -1e9).
        b, w, d = x.shape
        q, k, v = self.qkv(x).reshape(b, w, 3, self.n_heads, self.d_head).permute(2, 0, 3, 1, 4).unbind(0)
        att = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(self.d_head)) + key_bias
        att = self.drop(torch.softmax(att, dim=-1))
        h = torch.matmul(att, v).transpose(1, 2).reshape(b, w, d)
        x = self.ln1(x + self.drop(self.out(h)))
        return self.ln2(x + self.drop(self.ff(x)))


class FlowTransformer(nn.Module):
    def __init__(self, cfg: FlowTransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.embeds = nn.ModuleList(nn.Embedding(n + 1, cfg.embed_dim) for n in cfg.categorical_levels)
        d_in = cfg.n_numeric + cfg.embed_dim * len(cfg.categorical_levels)
        self.proj = nn.Linear(d_in, cfg.d_model)
        self.pos = nn.Parameter(torch.zeros(1, cfg.window, cfg.d_model))
        nn.init.normal_(self.pos, std=0.02)
        self.blocks = nn.ModuleList(
            EncoderBlock(cfg.d_model, cfg.n_heads, cfg.d_ff, cfg.dropout) for _ in range(cfg.n_layers)
        )
        self.head = nn.Linear(cfg.d_model, cfg.n_classes)

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        """numeric [B, W, n_num] f32, categorical [B, W, n_cat] i64, padding [B] i64 -> logits [B, C]."""
        parts = [numeric] + [emb(categorical[..., i]) for i, emb in enumerate(self.embeds)]
        x = self.proj(torch.cat(parts, dim=-1)) + self.pos
        # The first `padding` rows of each window are padding: mask them as attention keys.
        # The last row is always a real flow, so no row is fully masked.
        positions = torch.arange(self.cfg.window, device=numeric.device)
        masked = positions.unsqueeze(0) < padding.unsqueeze(1)  # [B, W]
        key_bias = masked.to(x.dtype).mul(-1e9).reshape(-1, 1, 1, self.cfg.window)
        for blk in self.blocks:
            x = blk(x, key_bias)
        return self.head(x[:, -1, :])  # LastToken head


class FlowTransformerProbs(nn.Module):
    """The exported graph: softmax inside, output `probs`."""

    def __init__(self, model: FlowTransformer):
        super().__init__()
        self.model = model

    def forward(self, numeric, categorical, padding):
        return torch.softmax(self.model(numeric, categorical, padding), dim=-1)
