"""A decoder-only Differential Transformer, written as difft computes it, for transformers.

Loaded with `AutoModelForCausalLM.from_pretrained(dir, trust_remote_code=True)`. Weights keep difft's
names (under `model.`) and PyTorch's layout. Notation: T tokens, D width, H heads of the baseline, Hkv
key/value heads, d the head width, A = softmax(Q Kᵀ / √d) with a causal mask.

    standard  head_i = A_i V_g                                          (g: head i's key/value group)
    diff      head_i = (1 − λ_init) · RMSNorm((A1 − λ A2) V_g),  A1, A2 from query halves 2i, 2i+1
    diff2     head_i = A1 V − σ(λ_t) A2 V,  2H query heads paired (2i, 2i+1), λ_t = x W_λ per token

Positions use RoPE on adjacent pairs (2i, 2i+1) of each head vector. No key/value cache: every step
reads the whole sequence, which keeps the code the equations (difft itself has the fast decoding).
"""

import math

import torch
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutputWithPast

from .configuration_difft import DifftConfig


class RMSNorm(nn.Module):
    def __init__(self, width, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope(x, base):
    """Rotates the adjacent pairs (2i, 2i+1) of x [B, n, T, d] at position t by t·base^(−2i/d)."""
    length, d = x.shape[-2], x.shape[-1]
    frequencies = base ** (-torch.arange(0, d, 2, dtype=torch.float64, device=x.device) / d)
    angles = torch.arange(length, dtype=torch.float64, device=x.device)[:, None] * frequencies
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1).flatten(-2)


def causal_softmax(q, k):
    """softmax(q kᵀ / √d) over the keys at or before each query: [..., T, T]."""
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    length = q.shape[-2]
    future = torch.ones(length, length, dtype=torch.bool, device=q.device).triu(1)
    return scores.masked_fill(future, float("-inf")).softmax(-1)


def heads(x, count, width):
    """[B, T, count·width] → [B, count, T, width]."""
    return x.view(x.shape[0], x.shape[1], count, width).transpose(1, 2)


def lambda_init_of(config, layer):
    if config.lambda_init == "depth":
        return 0.8 - 0.6 * math.exp(-0.3 * layer)
    return float(config.lambda_init)


class StandardAttention(nn.Module):
    def __init__(self, config, layer):
        super().__init__()
        D, H, Hkv, d = config.hidden_size, config.num_attention_heads, config.num_key_value_heads, config.head_dim
        self.config, self.d = config, d
        self.q_proj = nn.Linear(D, H * d, bias=False)
        self.k_proj = nn.Linear(D, Hkv * d, bias=False)
        self.v_proj = nn.Linear(D, Hkv * d, bias=False)
        self.out_proj = nn.Linear(H * d, D, bias=False)
        if config.head_norm:
            self.subln = RMSNorm(d, config.rms_norm_eps)

    def forward(self, x):
        c, d = self.config, self.d
        H, Hkv = c.num_attention_heads, c.num_key_value_heads
        q = rope(heads(self.q_proj(x), H, d), c.rope_theta)
        k = rope(heads(self.k_proj(x), Hkv, d), c.rope_theta).repeat_interleave(H // Hkv, dim=1)
        v = heads(self.v_proj(x), Hkv, d).repeat_interleave(H // Hkv, dim=1)
        out = causal_softmax(q, k) @ v  # [B, H, T, d]
        if c.head_norm:
            out = self.subln(out)
        return self.out_proj(out.transpose(1, 2).flatten(2))


class DiffAttention(nn.Module):
    """The Differential Transformer: H/2 heads, each the difference of two maps over a value of width 2d."""

    def __init__(self, config, layer):
        super().__init__()
        D, H, Hkv, d = config.hidden_size, config.num_attention_heads, config.num_key_value_heads, config.head_dim
        self.config, self.d = config, d
        self.lambda_init = lambda_init_of(config, layer)
        self.q_proj = nn.Linear(D, H * d, bias=False)
        self.k_proj = nn.Linear(D, Hkv * d, bias=False)
        self.v_proj = nn.Linear(D, Hkv * d, bias=False)
        self.out_proj = nn.Linear(H * d, D, bias=False)
        if config.lambda_mode == "reparam":
            self.lambda_q1, self.lambda_k1 = nn.Parameter(torch.zeros(d)), nn.Parameter(torch.zeros(d))
            self.lambda_q2, self.lambda_k2 = nn.Parameter(torch.zeros(d)), nn.Parameter(torch.zeros(d))
        elif config.lambda_mode == "scalar":
            self.register_parameter("lambda", nn.Parameter(torch.zeros(H // 2)))
        if config.head_norm:
            self.subln = RMSNorm(2 * d, config.rms_norm_eps)

    def lambda_value(self):
        """λ per differential head, [H/2]."""
        h = self.config.num_attention_heads // 2
        if self.config.lambda_mode == "fixed":
            return torch.full((h,), self.lambda_init, device=self.q_proj.weight.device)
        if self.config.lambda_mode == "scalar":
            return getattr(self, "lambda")
        first = torch.exp(torch.dot(self.lambda_q1, self.lambda_k1))
        second = torch.exp(torch.dot(self.lambda_q2, self.lambda_k2))
        return (first - second + self.lambda_init).expand(h)

    def forward(self, x):
        c, d = self.config, self.d
        B, T = x.shape[0], x.shape[1]
        h, hkv = c.num_attention_heads // 2, c.num_key_value_heads // 2
        q = rope(heads(self.q_proj(x), 2 * h, d), c.rope_theta).view(B, h, 2, T, d)
        k = rope(heads(self.k_proj(x), 2 * hkv, d), c.rope_theta).view(B, hkv, 2, T, d)
        k = k.repeat_interleave(h // hkv, dim=1)
        v = heads(self.v_proj(x), hkv, 2 * d).repeat_interleave(h // hkv, dim=1)  # [B, h, T, 2d]
        maps = causal_softmax(q, k)  # [B, h, 2, T, T]
        lam = self.lambda_value().view(1, h, 1, 1)
        out = (maps[:, :, 0] - lam * maps[:, :, 1]) @ v  # [B, h, T, 2d]
        if c.head_norm:
            out = self.subln(out)
        if c.output_scale:
            out = out * (1 - self.lambda_init)
        return self.out_proj(out.transpose(1, 2).flatten(2))


class Diff2Attention(nn.Module):
    """Differential attention V2: 2H query heads of the baseline's width, output head i = A1 V − σ(λ) A2 V."""

    def __init__(self, config, layer):
        super().__init__()
        D, H, Hkv, d = config.hidden_size, config.num_attention_heads, config.num_key_value_heads, config.head_dim
        self.config, self.d = config, d
        self.q_proj = nn.Linear(D, 2 * H * d, bias=False)
        self.k_proj = nn.Linear(D, Hkv * d, bias=False)
        self.v_proj = nn.Linear(D, Hkv * d, bias=False)
        self.out_proj = nn.Linear(H * d, D, bias=False)
        if config.gate in ("token", "unbounded"):
            self.lambda_proj = nn.Linear(D, H, bias=False)
        elif config.gate == "scalar":
            self.register_parameter("lambda", nn.Parameter(torch.zeros(H)))
        if config.head_norm:
            self.subln = RMSNorm(d, config.rms_norm_eps)

    def gate_value(self, x):
        """The gate on A2, broadcastable to [B, H, T, 1]."""
        gate, H = self.config.gate, self.config.num_attention_heads
        if gate == "none":
            return torch.ones((), device=x.device)
        if gate == "scalar":
            return torch.sigmoid(getattr(self, "lambda")).view(1, H, 1, 1)
        lam = self.lambda_proj(x).transpose(1, 2).unsqueeze(-1)  # [B, H, T, 1]
        return lam if gate == "unbounded" else torch.sigmoid(lam)

    def forward(self, x):
        c, d = self.config, self.d
        H, Hkv = c.num_attention_heads, c.num_key_value_heads
        q = rope(heads(self.q_proj(x), 2 * H, d), c.rope_theta)
        # query head j of the 2H reads key/value group j // (2H / Hkv), as grouped-query attention does
        k = rope(heads(self.k_proj(x), Hkv, d), c.rope_theta).repeat_interleave(2 * H // Hkv, dim=1)
        v = heads(self.v_proj(x), Hkv, d).repeat_interleave(2 * H // Hkv, dim=1)
        per_query_head = causal_softmax(q, k) @ v  # [B, 2H, T, d]
        if c.pairing == "across":
            first, second = per_query_head[:, :H], per_query_head[:, H:]
        else:
            first, second = per_query_head[:, 0::2], per_query_head[:, 1::2]
        out = first - self.gate_value(x) * second  # [B, H, T, d]
        if c.head_norm:
            out = self.subln(out)
        return self.out_proj(out.transpose(1, 2).flatten(2))


ATTENTIONS = {"standard": StandardAttention, "diff": DiffAttention, "diff2": Diff2Attention}


class SwiGLU(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)

    def forward(self, x):
        return self.down_proj(nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, config, layer):
        super().__init__()
        self.attn_norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.attn = ATTENTIONS[config.attention](config, layer)
        self.ffn_norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.ffn = SwiGLU(config)

    def forward(self, x):
        x = x + self.attn(self.attn_norm(x))
        return x + self.ffn(self.ffn_norm(x))


class DifftPreTrainedModel(PreTrainedModel):
    config_class = DifftConfig
    base_model_prefix = "model"
    _no_split_modules = ["DecoderLayer"]

    def _init_weights(self, module):
        # exports carry every weight; this only gives a model built from a config something to start from
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)


class DifftModel(DifftPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.embed = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(config, layer) for layer in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.post_init()

    def forward(self, input_ids):
        x = self.embed(input_ids)
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)


class DifftForCausalLM(DifftPreTrainedModel, GenerationMixin):
    def __init__(self, config):
        super().__init__(config)
        self.model = DifftModel(config)
        if not config.tie_word_embeddings:
            self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self):
        return self.model.embed

    def forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs):
        hidden = self.model(input_ids)
        if self.config.tie_word_embeddings:
            logits = hidden @ self.model.embed.weight.T
        else:
            logits = self.lm_head(hidden)
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(
                logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(), ignore_index=-100
            )
        return CausalLMOutputWithPast(loss=loss, logits=logits)

    def prepare_inputs_for_generation(self, input_ids, **kwargs):
        # no cache: every step reads the whole sequence
        return {"input_ids": input_ids}
