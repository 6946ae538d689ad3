"""transformers' generate() on difft's own export, timed as bench/decode-one.ts times difft:
python decode-reference.py EXPORT_DIR BATCH THREADS  → one JSON line (prefill and decode tokens/s, greedy,
half the context as the prompt, the other half generated, KV cache on: what generate() does by default)."""
import json, sys, time

import torch
from transformers import AutoModelForCausalLM

path, batch, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
model = AutoModelForCausalLM.from_pretrained(path, trust_remote_code=True, torch_dtype=torch.float32).eval()
window = model.config.max_position_embeddings
prompt_length, new_tokens = window // 2, window // 2 - 1
vocab = model.config.vocab_size
ids = torch.tensor([[(7 * i + row) % vocab for i in range(prompt_length)] for row in range(batch)])


def generate(count):
    start = time.perf_counter()
    with torch.no_grad():
        model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=count, min_new_tokens=count,
                       do_sample=False, pad_token_id=0)
    return time.perf_counter() - start


generate(new_tokens)  # warm-up
prefill = sorted(generate(1) for _ in range(5))[2]  # one token: the prompt's forward
full = sorted(generate(1 + new_tokens) for _ in range(3))[1]
print(json.dumps({"prefillTokensPerSecond": batch * prompt_length / prefill,
                  "decodeTokensPerSecond": batch * new_tokens / (full - prefill), "threads": threads}))
