"""transformers' text-generation pipeline on exported directories: greedy continuation of a prompt.

Usage: python scripts/hf-generate.py PROMPT NEW_TOKENS EXPORT_DIR [EXPORT_DIR ...]
Prints one JSON object: each directory's generated text. Several directories share one start of Python and
torch. Used by test/export-tokenizer.test.ts."""
import json
import sys

from transformers import pipeline

prompt, new_tokens, directories = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
texts = {}
for directory in directories:
    # trust_remote_code: exports of diff2 and of ablated models carry their own modeling code
    generator = pipeline("text-generation", model=directory, trust_remote_code=True)
    texts[directory] = generator(prompt, max_new_tokens=new_tokens, do_sample=False)[0]["generated_text"]
print(json.dumps(texts))
