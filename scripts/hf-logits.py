"""Logits of an exported difft model computed by Hugging Face transformers (float64).

Usage: python scripts/hf-logits.py EXPORT_DIR TOKEN_IDS_JSON
Prints a JSON list of lists, logits [T, V] for one sequence. Used by test/export.test.ts when a
Python with torch and transformers is available (DIFFT_HF_PYTHON, or `python3` if it has both).
"""
import json
import sys

import torch
from transformers import AutoModelForCausalLM


def main() -> None:
    directory, tokens = sys.argv[1], json.loads(sys.argv[2])
    model = AutoModelForCausalLM.from_pretrained(directory, torch_dtype=torch.float64, attn_implementation="eager")
    model.eval()
    with torch.no_grad():
        logits = model(torch.tensor([tokens])).logits[0]
    json.dump({"class": type(model).__name__, "logits": logits.tolist()}, sys.stdout)


if __name__ == "__main__":
    main()
