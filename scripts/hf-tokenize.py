"""transformers' AutoTokenizer on exported directories: for each directory, the ids of a text (no special
tokens added) and the text decoded back, as one JSON line, in the order given. One process for them all:
importing transformers costs seconds. Usage: hf-tokenize.py DIR [DIR ...] TEXT. Used by
test/export-tokenizer.test.ts and test/bpe.test.ts."""
import json
import sys

from transformers import AutoTokenizer

*directories, text = sys.argv[1:]
for directory in directories:
    tokenizer = AutoTokenizer.from_pretrained(directory)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    print(json.dumps({"ids": ids, "decoded": tokenizer.decode(ids), "class": type(tokenizer).__name__}))
