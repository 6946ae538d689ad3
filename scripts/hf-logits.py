"""Logits of exported difft models computed by Hugging Face transformers (float64).

Usage: python scripts/hf-logits.py TOKEN_IDS_JSON EXPORT_DIR [EXPORT_DIR ...]
Prints one JSON object: for each directory, its model class and the logits [T, V] of the one sequence.
Exports with their own modeling code (diff2, ablation switches) load with trust_remote_code=True.
Several directories share one start of Python and torch (seconds each). Used by test/export.test.ts
when a Python with torch and transformers is available (DIFFT_HF_PYTHON, or `python3` if it has both).
"""
import json
import sys

import torch
from transformers import AutoModelForCausalLM


def logits_of(directory, tokens):
    model = AutoModelForCausalLM.from_pretrained(
        directory, torch_dtype=torch.float64, attn_implementation="eager", trust_remote_code=True
    )
    model.eval()
    with torch.no_grad():
        logits = model(torch.tensor([tokens])).logits[0]
    return {"class": type(model).__name__, "logits": logits.tolist()}


def main() -> None:
    tokens, directories = json.loads(sys.argv[1]), sys.argv[2:]
    json.dump({directory: logits_of(directory, tokens) for directory in directories}, sys.stdout)


if __name__ == "__main__":
    main()
