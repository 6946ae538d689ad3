"""transformers' text-generation pipeline on an exported directory: greedy continuation of a prompt.
Used by test/export-tokenizer.test.ts."""
import json
import sys

from transformers import pipeline

# trust_remote_code: exports of diff2 and of ablated models carry their own modeling code
generator = pipeline("text-generation", model=sys.argv[1], trust_remote_code=True)
out = generator(sys.argv[2], max_new_tokens=int(sys.argv[3]), do_sample=False)
print(json.dumps({"text": out[0]["generated_text"]}))
