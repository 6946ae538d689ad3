"""transformers' AutoTokenizer on an exported directory: the ids of a text (no special tokens added) and
the text decoded back, as JSON. Used by test/export-tokenizer.test.ts."""
import json
import sys

from transformers import AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained(sys.argv[1])
text = sys.argv[2]
ids = tokenizer(text, add_special_tokens=False)["input_ids"]
print(json.dumps({"ids": ids, "decoded": tokenizer.decode(ids), "class": type(tokenizer).__name__}))
