"""What TensorBoard's own reader sees in a run directory: every scalar tag with its (step, value) pairs
and every image tag with its (step, width, height), as JSON. Used by test/tensorboard.test.ts."""
import json
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

accumulator = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0, "images": 0})
accumulator.Reload()
tags = accumulator.Tags()
print(json.dumps({
    "scalars": {tag: [[e.step, e.value] for e in accumulator.Scalars(tag)] for tag in tags["scalars"]},
    "images": {tag: [[e.step, e.width, e.height] for e in accumulator.Images(tag)] for tag in tags["images"]},
}))
