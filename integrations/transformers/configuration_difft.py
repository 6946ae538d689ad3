"""The configuration of a difft model exported for transformers (loaded with trust_remote_code=True)."""

from transformers import PretrainedConfig


class DifftConfig(PretrainedConfig):
    """A decoder-only Differential Transformer as difft trains it: RMSNorm, RoPE on adjacent pairs, SwiGLU.

    attention:    "standard" | "diff" (Differential Transformer) | "diff2" (its second version)
    head_norm:    RMS-normalise each head's output (diff's per-head norm; on for diff by default)
    lambda_init:  "depth" (0.8 − 0.6·exp(−0.3·layer)) or a constant — diff
    lambda_mode:  "reparam" (exp(λq1·λk1) − exp(λq2·λk2) + λ_init) | "scalar" (one λ per head) | "fixed" — diff
    output_scale: scale each head by 1 − λ_init — diff
    gate:         "token" (σ(x·W_λ)) | "scalar" (σ(λ) per head) | "none" | "unbounded" (x·W_λ) — diff2
    pairing:      "group" (query heads 2i, 2i+1) | "across" (query heads i, H + i) — diff2
    """

    model_type = "difft"

    def __init__(
        self,
        vocab_size=256,
        hidden_size=128,
        intermediate_size=512,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=4,
        head_dim=32,
        max_position_embeddings=64,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        tie_word_embeddings=True,
        attention="diff",
        head_norm=True,
        lambda_init="depth",
        lambda_mode="reparam",
        output_scale=True,
        gate="token",
        pairing="group",
        **kwargs,
    ):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.num_key_value_heads = num_key_value_heads
        self.head_dim = head_dim
        self.max_position_embeddings = max_position_embeddings
        self.rms_norm_eps = rms_norm_eps
        self.rope_theta = rope_theta
        self.attention = attention
        self.head_norm = head_norm
        self.lambda_init = lambda_init
        self.lambda_mode = lambda_mode
        self.output_scale = output_scale
        self.gate = gate
        self.pairing = pairing
        kwargs.setdefault("use_cache", False)
        super().__init__(tie_word_embeddings=tie_word_embeddings, **kwargs)
