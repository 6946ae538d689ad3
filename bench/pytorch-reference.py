"""The bench's reference point: the same model and training step in PyTorch, on the same machine.

    python bench/pytorch-reference.py SHAPE ATTENTION STEPS [THREADS] [--compile]

SHAPE is JSON from bench.ts, so that difft's sizes are the one source of truth:
{"vocabSize", "layers", "width", "heads", "seqLen", "ffnHidden", "normEps", "ropeBase", "batch"}.
Prints one JSON line shaped like bench-one.js's (ms/step is the median of STEPS steps after 2 warm-up
steps). `npm run bench` runs it when it finds a Python with torch (DIFFT_PYTHON, DIFFT_HF_PYTHON,
.difft/hf-python, python3), so that "as fast as PyTorch" is measured here and now, not remembered.

The model is written the way a PyTorch user would write it, not translated from difft: nn.Linear
projections, scaled_dot_product_attention for the baseline, the official Diff-Transformer module's
equations for `diff` (unilm multihead_diffattn.py: A1 − λ·A2, per-head RMSNorm, × (1 − λ_init)),
RMSNorm, RoPE on adjacent pairs, SwiGLU, a tied LM head, torch.optim.AdamW (weight decay on matrices
only) and clipping at global norm 1. THREADS = 0 tries 1 and 2 threads and keeps the faster.
--compile runs the model through torch.compile (as nanoGPT does by default; needs a C++ compiler,
and takes ~10-30 s per case to compile); the optimizer stays torch.optim.AdamW's foreach kernels.
"""

import json
import math
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

def rope_tables(seq_len, dim, base=10000.0):
    inv_freq = 1.0 / base ** (torch.arange(0, dim, 2).float() / dim)
    angles = torch.outer(torch.arange(seq_len).float(), inv_freq)  # [T, d/2]
    return angles.cos(), angles.sin()


def rotate(x, cos, sin):
    """RoPE on adjacent pairs (2j, 2j+1) of the last axis; x [B, T, n, d]."""
    even, odd = x[..., 0::2], x[..., 1::2]
    cos, sin = cos[:, None, :], sin[:, None, :]
    return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)


class StandardAttention(nn.Module):
    def __init__(self, width, heads, layer, eps):
        super().__init__()
        self.heads, self.head_dim = heads, width // heads
        self.q_proj, self.k_proj, self.v_proj = (nn.Linear(width, width, bias=False) for _ in range(3))
        self.out_proj = nn.Linear(width, width, bias=False)

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        q = rotate(self.q_proj(x).view(b, t, self.heads, self.head_dim), cos, sin).transpose(1, 2)
        k = rotate(self.k_proj(x).view(b, t, self.heads, self.head_dim), cos, sin).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # [B, H, T, d]
        return self.out_proj(out.transpose(1, 2).reshape(b, t, -1))


class DiffAttention(nn.Module):
    """H/2 differential heads of width 2d, as in the official module."""

    def __init__(self, width, heads, layer, eps):
        super().__init__()
        self.heads, self.head_dim = heads // 2, width // heads
        self.q_proj, self.k_proj, self.v_proj = (nn.Linear(width, width, bias=False) for _ in range(3))
        self.out_proj = nn.Linear(width, width, bias=False)
        self.lambda_init = 0.8 - 0.6 * math.exp(-0.3 * layer)
        self.lambda_q1, self.lambda_k1, self.lambda_q2, self.lambda_k2 = (
            nn.Parameter(torch.randn(self.head_dim) * 0.1) for _ in range(4)
        )
        self.subln = nn.RMSNorm(2 * self.head_dim, eps=eps)

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        h, d = self.heads, self.head_dim
        q = rotate(self.q_proj(x).view(b, t, 2 * h, d), cos, sin).transpose(1, 2)  # [B, 2h, T, d]
        k = rotate(self.k_proj(x).view(b, t, 2 * h, d), cos, sin).transpose(1, 2)
        v = self.v_proj(x).view(b, t, h, 2 * d).transpose(1, 2)  # [B, h, T, 2d]
        scores = (q * d**-0.5) @ k.transpose(-1, -2)
        mask = torch.triu(torch.full((t, t), float("-inf")), 1)
        attn = F.softmax(scores + mask, dim=-1).view(b, h, 2, t, t)
        lam = (
            torch.exp(torch.sum(self.lambda_q1 * self.lambda_k1))
            - torch.exp(torch.sum(self.lambda_q2 * self.lambda_k2))
            + self.lambda_init
        )
        out = (attn[:, :, 0] - lam * attn[:, :, 1]) @ v  # [B, h, T, 2d]
        out = self.subln(out) * (1 - self.lambda_init)
        return self.out_proj(out.transpose(1, 2).reshape(b, t, -1))


class Block(nn.Module):
    def __init__(self, width, heads, hidden, eps, layer, attention):
        super().__init__()
        self.attn_norm, self.ffn_norm = nn.RMSNorm(width, eps=eps), nn.RMSNorm(width, eps=eps)
        self.attn = attention(width, heads, layer, eps)
        self.gate_proj, self.up_proj = nn.Linear(width, hidden, bias=False), nn.Linear(width, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, width, bias=False)

    def forward(self, x, cos, sin):
        x = x + self.attn(self.attn_norm(x), cos, sin)
        normed = self.ffn_norm(x)
        return x + self.down_proj(F.silu(self.gate_proj(normed)) * self.up_proj(normed))


class Decoder(nn.Module):
    def __init__(self, shape, attention):
        super().__init__()
        width, heads, eps = shape["width"], shape["heads"], shape["normEps"]
        self.embed = nn.Embedding(shape["vocabSize"], width)
        self.blocks = nn.ModuleList(
            Block(width, heads, shape["ffnHidden"], eps, layer, attention) for layer in range(shape["layers"])
        )
        self.norm = nn.RMSNorm(width, eps=eps)
        cos, sin = rope_tables(shape["seqLen"], width // heads, shape["ropeBase"])
        self.register_buffer("cos", cos)
        self.register_buffer("sin", sin)

    def forward(self, tokens):
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x, self.cos, self.sin)
        return self.norm(x) @ self.embed.weight.T  # tied head


def time_steps(shape, attention, steps, threads, compiled=False):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    model = Decoder(shape, {"standard": StandardAttention, "diff": DiffAttention}[attention])
    matrices = [p for p in model.parameters() if p.dim() == 2]
    others = [p for p in model.parameters() if p.dim() != 2]
    optimizer = torch.optim.AdamW([{"params": matrices, "weight_decay": 0.1}, {"params": others, "weight_decay": 0.0}],
                                  lr=1e-4, betas=(0.9, 0.95), eps=1e-8)
    forward = torch.compile(model) if compiled else model
    data = torch.randint(0, shape["vocabSize"], (shape["batch"], shape["seqLen"] + 1))
    inputs, targets = data[:, :-1], data[:, 1:]

    def step():
        logits = forward(inputs)
        loss = F.cross_entropy(logits.reshape(-1, shape["vocabSize"]), targets.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return loss.item()  # waits for the step, as difft's step reads its loss

    for _ in range(2):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1000)
    parameters = sum(p.numel() for p in model.parameters())
    return statistics.median(times), parameters


def main():
    compiled = "--compile" in sys.argv
    args = [arg for arg in sys.argv[1:] if arg != "--compile"]
    shape, attention, steps = json.loads(args[0]), args[1], int(args[2])
    threads = int(args[3]) if len(args) > 3 else 0
    choices = [threads] if threads > 0 else [1, 2]
    ms, parameters, best = min((*time_steps(shape, attention, steps, n, compiled), n) for n in choices)
    print(json.dumps({
        "engine": f"pytorch {torch.__version__}{' compiled' if compiled else ''}", "attention": attention, "parameters": parameters,
        "msPerStep": ms, "tokensPerSecond": shape["batch"] * shape["seqLen"] * 1000 / ms, "threads": best,
        "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
