"""Runs lm-evaluation-harness on a difft export with the local tasks of integrations/lm-eval, offline.

    python scripts/lm-eval-run.py MODEL_ARGS TASKS METADATA_JSON

prints the harness's results as JSON (what `lm_eval --model hf ...` computes; its table printer is left out,
so that a harness installed without its optional table package still runs). test/lm-eval.test.ts uses it.
"""

import json
import os
import sys

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import lm_eval  # noqa: E402
from lm_eval.tasks import TaskManager  # noqa: E402

model_args, tasks, metadata = sys.argv[1], sys.argv[2].split(","), json.loads(sys.argv[3])
here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integrations", "lm-eval")
manager = TaskManager(include_path=here, metadata=metadata)
results = lm_eval.simple_evaluate(
    model="hf", model_args=model_args, tasks=tasks, task_manager=manager, device="cpu", batch_size=1
)
print(json.dumps(results["results"]))
