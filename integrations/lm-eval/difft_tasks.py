"""Datasets for the local lm-evaluation-harness tasks that come with difft (no download, no network).

The harness calls a task's `custom_dataset` with the JSON given to `--metadata`, so the files are named
there: `{"text_file": "notes.txt"}` for difft_text, `{"choice_file": "questions.jsonl"}` for difft_choice.
"""

import json

import datasets


def text_dataset(text_file=None, **_):
    """One document per file (a path, or a list of paths): the rolling log-likelihood of its whole text."""
    if text_file is None:
        raise ValueError('difft_text needs --metadata \'{"text_file": "PATH"}\'')
    files = text_file if isinstance(text_file, list) else [text_file]
    documents = []
    for path in files:
        with open(path, encoding="utf-8") as handle:
            documents.append({"text": handle.read()})
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(documents)})


def choice_dataset(choice_file=None, **_):
    """Multiple choice from JSON lines {"context": str, "choices": [str, ...], "answer": index of the right one}."""
    if choice_file is None:
        raise ValueError('difft_choice needs --metadata \'{"choice_file": "PATH"}\'')
    with open(choice_file, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    for number, row in enumerate(rows, 1):
        if not isinstance(row.get("choices"), list) or not 0 <= row.get("answer", -1) < len(row["choices"]):
            raise ValueError(f"{choice_file}:{number}: needs context, choices and answer (an index into choices)")
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})
