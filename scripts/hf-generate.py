"""transformers' text-generation pipeline on an exported directory: greedy continuation of a prompt.
Used by test/export-tokenizer.test.ts."""
import json
import sys

from transformers import pipeline

generator = pipeline("text-generation", model=sys.argv[1])
out = generator(sys.argv[2], max_new_tokens=int(sys.argv[3]), do_sample=False)
print(json.dumps({"text": out[0]["generated_text"]}))
