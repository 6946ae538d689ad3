/**
 * One decoding case in its own process: node dist/bench/decode-one.js ENGINE CHECKPOINT BATCH
 * prints one JSON line: prefill and decode tokens/s, greedy, on the engine, as `difft generate` runs it.
 */
import * as tf from '@tensorflow/tfjs';
import { type EngineName, useEngine } from '../src/backend/engines.js';
import { loadModel, readCheckpoint } from '../src/checkpoint/checkpoint.js';
import { DecodeSteps, decodingFor } from '../src/generate/decoding.js';

const [engine, checkpoint, batchText] = process.argv.slice(2);
const batch = Number(batchText);
await useEngine(engine as EngineName, { stepFlops: 0 }); // as `difft generate` loads it: one intra-op thread
const model = loadModel(readCheckpoint(checkpoint));
const window = model.config.seqLen;
// half the context as the prompt, the other half generated: no slide
const promptLength = window / 2;
const newTokens = window / 2 - 1;
const contexts = Array.from({ length: batch }, (_, row) =>
  Array.from({ length: promptLength }, (_, i) => (7 * i + row) % model.config.vocabSize),
);
const uniform = contexts.map(() => 0);
// compiled once, as a process decoding many batches keeps them (the first pass pays the compiling)
const steps = new DecodeSteps(model, true);

/** One prompt and its continuation: the prefill's ms and the ms of the steps after it. */
function pass(): { prefillMs: number; stepsMs: number } {
  const decoding = decodingFor(model, { temperature: 0 }, contexts, steps);
  try {
    let start = performance.now();
    let next = decoding.prefill(contexts, uniform);
    const prefillMs = performance.now() - start;
    start = performance.now();
    for (let i = 0; i < newTokens; i++) next = decoding.next(next, uniform);
    return { prefillMs, stepsMs: performance.now() - start };
  } finally {
    decoding.dispose();
  }
}

const started = performance.now();
const first = pass(); // compiles its programs where the engine compiles
const firstMs = performance.now() - started;
const passes: { prefillMs: number; stepsMs: number }[] = [];
const timed = performance.now();
while (passes.length < 3 || performance.now() - timed < 2000) passes.push(pass());
const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
const prefillMs = median(passes.map((p) => p.prefillMs));
const stepsMs = median(passes.map((p) => p.stepsMs));
process.stdout.write(
  `${JSON.stringify({
    prefillTokensPerSecond: (batch * promptLength * 1000) / prefillMs,
    decodeTokensPerSecond: (batch * newTokens * 1000) / stepsMs,
    firstPassMs: firstMs,
    warmPassMs: prefillMs + stepsMs,
    compileMs: Math.max(0, first.prefillMs + first.stepsMs - prefillMs - stepsMs),
    tensors: tf.memory().numTensors,
  })}\n`,
);
