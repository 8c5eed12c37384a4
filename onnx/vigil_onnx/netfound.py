"""netFound (Guthula et al., "netFound: Foundation Model for Network Security"): a hierarchical
transformer over the Rust tokenizer's flows (`vigil tokenize netfound`).

A flow is up to NB bursts of T tokens (the burst's CLS first, then per packet its protocol-aware
header-field tokens and payload words; 0 = padding). Per token:

    x = Linear_16->d(E_tok[token])              factorised embedding, 65,541 x 16
      + E_dir[direction] + MLP(log1p(bytes, packets, IAT us))   the burst's metadata
      + E_proto[protocol]                        6/17/1/58 -> 1..4, anything else 0

The burst encoder (pre-LN blocks, rotary positions over the token index, padding keys masked)
attends within each burst; the flow encoder (same blocks, rotary positions over the burst index,
padded bursts masked as keys) attends over the bursts' CLS states. The flow embedding is the mean
of the flow encoder's (final-LayerNorm) states over the flow's bursts. Heads: traffic class
(linear -> softmax) and malicious (linear -> sigmoid) on the embedding; pretraining predicts
masked tokens through the tied factorised embedding.

Rotary positions as in the reference (RoFormer rotation of q and k, half-split layout). A padded
burst (all tokens 0) keeps finite attention (additive mask -1e9, uniform over its own padding) and
is dropped from the flow encoder's keys and from the mean.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

PAD, CLS, MASK, EOS = 0, 65537, 65538, 65540
VOCAB = 65541
PROTOCOLS = (6, 17, 1, 58)  # -> 1..4; others 0
NEG = -1e9


@dataclass
class NetFoundConfig:
    n_classes: int
    max_bursts: int = 12
    tokens_per_burst: int = 55
    vocab: int = VOCAB
    d_embed: int = 16
    d_model: int = 64
    n_heads: int = 4
    d_ff: int = 128
    burst_layers: int = 2
    flow_layers: int = 2
    dropout: float = 0.1

    def to_dict(self) -> dict:
        return asdict(self)


def rotary_tables(n: int, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    inv = 1.0 / (10000 ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    ang = torch.arange(n, dtype=torch.float32)[:, None] * inv[None, :]
    ang = torch.cat([ang, ang], dim=-1)  # [n, dim]
    return ang.cos(), ang.sin()


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    h = x.shape[-1] // 2
    x1, x2 = x[..., :h], x[..., h:]
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin


class Block(nn.Module):
    """Pre-LN transformer block with rotary q/k and an additive key mask."""

    def __init__(self, cfg: NetFoundConfig):
        super().__init__()
        self.h, self.dh = cfg.n_heads, cfg.d_model // cfg.n_heads
        self.ln1, self.ln2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)
        self.ff = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_ff), nn.GELU(), nn.Linear(cfg.d_ff, cfg.d_model))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, bias, cos, sin):
        # x [N, L, d]; bias [N, 1, 1, L] (0 or NEG); cos/sin [L, dh]
        n, l, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).reshape(n, l, 3, self.h, self.dh).permute(2, 0, 3, 1, 4)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        att = torch.softmax(q @ k.transpose(-1, -2) * (self.dh ** -0.5) + bias, dim=-1)
        y = (self.drop(att) @ v).transpose(1, 2).reshape(n, l, d)
        x = x + self.drop(self.out(y))
        return x + self.drop(self.ff(self.ln2(x)))


class NetFound(nn.Module):
    def __init__(self, cfg: NetFoundConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.tok = nn.Embedding(cfg.vocab, cfg.d_embed)
        self.tok_proj = nn.Linear(cfg.d_embed, d)
        self.dir = nn.Embedding(2, d)
        self.meta = nn.Sequential(nn.Linear(3, d), nn.GELU(), nn.Linear(d, d))
        self.proto = nn.Embedding(len(PROTOCOLS) + 1, d)
        self.emb_ln = nn.LayerNorm(d)
        self.burst = nn.ModuleList(Block(cfg) for _ in range(cfg.burst_layers))
        self.burst_ln = nn.LayerNorm(d)
        self.flow = nn.ModuleList(Block(cfg) for _ in range(cfg.flow_layers))
        self.flow_ln = nn.LayerNorm(d)
        self.cls_head = nn.Linear(d, cfg.n_classes)
        self.mal_head = nn.Linear(d, 1)
        self.mlm_proj = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.LayerNorm(d), nn.Linear(d, cfg.d_embed))
        self.mlm_bias = nn.Parameter(torch.zeros(cfg.vocab))
        dh = d // cfg.n_heads
        cos_t, sin_t = rotary_tables(cfg.tokens_per_burst, dh)
        cos_b, sin_b = rotary_tables(cfg.max_bursts, dh)
        self.register_buffer("cos_t", cos_t, persistent=False)
        self.register_buffer("sin_t", sin_t, persistent=False)
        self.register_buffer("cos_b", cos_b, persistent=False)
        self.register_buffer("sin_b", sin_b, persistent=False)

    @staticmethod
    def proto_index(protocol: torch.Tensor) -> torch.Tensor:
        idx = torch.zeros_like(protocol)
        for i, p in enumerate(PROTOCOLS):
            idx = idx + (protocol == p).long() * (i + 1)
        return idx

    def encode_bursts(self, tokens, directions, bytes_, counts, iats, proto_idx):
        """tokens [M, T] (non-empty or padded bursts), per-burst metadata [M], proto_idx [M] ->
        token states [M, T, d] after the burst encoder (final LN)."""
        t = tokens.shape[1]
        meta = torch.stack([torch.log1p(bytes_), torch.log1p(counts), torch.log1p(iats) / 4.0], dim=-1)
        burst_vec = self.dir(directions) + self.meta(meta) + self.proto(proto_idx)  # [M, d]
        x = self.tok_proj(self.tok(tokens)) + burst_vec[:, None, :]
        x = self.emb_ln(x)
        bias = (tokens == PAD).to(x.dtype)[:, None, None, :] * NEG
        cos, sin = self.cos_t[:t], self.sin_t[:t]
        for blk in self.burst:
            x = blk(x, bias, cos, sin)
        return self.burst_ln(x)

    def encode_flows(self, cls_states, valid):
        """cls_states [B, NB, d], valid [B, NB] (float 0/1) -> embedding [B, d]."""
        nb = cls_states.shape[1]
        bias = (1.0 - valid)[:, None, None, :] * NEG
        x = cls_states
        for blk in self.flow:
            x = blk(x, bias, self.cos_b[:nb], self.sin_b[:nb])
        x = self.flow_ln(x)
        w = valid[:, :, None]
        return (x * w).sum(1) / w.sum(1).clamp(min=1.0)

    def forward(self, tokens, directions, bytes_, counts, iats, protocol):
        """The dense graph (as exported): all NB bursts of T tokens. Returns (logits, mal_logit, emb)."""
        b, nb, t = tokens.shape
        pidx = self.proto_index(protocol)[:, None].expand(b, nb).reshape(-1)
        states = self.encode_bursts(tokens.reshape(b * nb, t), directions.reshape(-1),
                                    bytes_.reshape(-1), counts.reshape(-1), iats.reshape(-1), pidx)
        valid = (tokens != PAD).any(-1).to(states.dtype)  # [B, NB]
        emb = self.encode_flows(states[:, 0, :].reshape(b, nb, -1), valid)
        return self.cls_head(emb), self.mal_head(emb).squeeze(-1), emb

    def forward_packed(self, tokens, directions, bytes_, counts, iats, protocol, mlm_positions=None):
        """Training path: the burst encoder runs only on non-empty bursts, trimmed to the longest
        one in the batch (the same outputs as `forward` for them: padding keys are masked either way).
        Returns (logits, mal_logit, emb, token_states_of_nonempty_bursts, burst_index)."""
        b, nb, t = tokens.shape
        valid = (tokens != PAD).any(-1)  # [B, NB]
        bi = valid.reshape(-1).nonzero().squeeze(1)
        tk = tokens.reshape(b * nb, t)[bi]
        # Tokens are right-padded and never 0 inside a burst: the longest burst's length.
        tmax = max(1, int((tk != PAD).sum(1).max().item())) if len(bi) else 1
        tk = tk[:, :tmax]
        pidx = self.proto_index(protocol)[:, None].expand(b, nb).reshape(-1)[bi]
        states = self.encode_bursts(tk, directions.reshape(-1)[bi], bytes_.reshape(-1)[bi],
                                    counts.reshape(-1)[bi], iats.reshape(-1)[bi], pidx)
        cls = states.new_zeros(b * nb, states.shape[-1])
        cls = cls.index_copy(0, bi, states[:, 0, :]).reshape(b, nb, -1)
        emb = self.encode_flows(cls, valid.to(states.dtype))
        return self.cls_head(emb), self.mal_head(emb).squeeze(-1), emb, states, bi

    def mlm_logits(self, states: torch.Tensor) -> torch.Tensor:
        """states [K, d] -> logits over the vocabulary [K, V] through the tied factorised embedding."""
        return self.mlm_proj(states) @ self.tok.weight.t() + self.mlm_bias


class NetFoundExport(nn.Module):
    """The exported graph: raw tokenizer values in, (probs, malicious, embedding) out."""

    def __init__(self, model: NetFound):
        super().__init__()
        self.model = model

    def forward(self, tokens, directions, bytes_, counts, iats, protocol):
        logits, mal, emb = self.model(tokens, directions, bytes_, counts, iats, protocol)
        return torch.softmax(logits, dim=-1), torch.sigmoid(mal), emb
