/**
 * One benchmark case in its own process (so that peak RSS belongs to it alone):
 *   node dist/bench/bench-one.js ENGINE SIZE ATTENTION STEPS [THREADS]
 * prints one JSON line with the timing of a full training step (forward, backward, AdamW).
 */
import * as tf from '@tensorflow/tfjs';
import { useEngine, type EngineName } from '../src/backend/engines.js';
import { compileProgram } from '../src/backend/graph/compile.js';
import { headDim, resolveModelConfig, type Attention, type ModelConfig } from '../src/config/model.js';
import { ATTENTION_VARIANTS } from '../src/model/attention/variants.js';
import { Decoder } from '../src/model/decoder.js';
import type { Parameters } from '../src/model/parameter-spec.js';
import { countParameters, trainingFlopsPerToken } from '../src/model/parameters.js';
import { createRopeTables, ropeWindow } from '../src/model/rope.js';
import { createOptimizer, Trainer } from '../src/train/step.js';

/**
 * baby and small: the default preset's shape and a larger one. ctx256 … ctx1024: the default shape
 * (byte vocabulary) at long contexts, 2,048 tokens per step each, where the T×T attention maps grow.
 */
export const SIZES = {
  baby: { model: { vocabSize: 65, layers: 4, width: 128, heads: 4, seqLen: 64 }, batch: 12 },
  small: { model: { vocabSize: 4096, layers: 6, width: 256, heads: 8, seqLen: 128 }, batch: 8 },
  ctx256: { model: { vocabSize: 256, layers: 4, width: 128, heads: 4, seqLen: 256 }, batch: 8 },
  ctx512: { model: { vocabSize: 256, layers: 4, width: 128, heads: 4, seqLen: 512 }, batch: 4 },
  ctx1024: { model: { vocabSize: 256, layers: 4, width: 128, heads: 4, seqLen: 1024 }, batch: 2 },
} as const;
export type SizeName = keyof typeof SIZES;

/** Median of `times` calls of `call`. */
function medianMs(call: () => void, times: number): number {
  const ms: number[] = [];
  for (let i = 0; i < times; i++) {
    const start = performance.now();
    call();
    ms.push(performance.now() - start);
  }
  return ms.sort((a, b) => a - b)[Math.floor(ms.length / 2)];
}

/**
 * One layer's attention block alone, forward and backward (gradients for its input and weights), run
 * the way the training step runs (one program on tensorflow): times the model's layers, its share of
 * the step.
 */
function attentionMs(model: Decoder, config: ModelConfig, batch: number, steps: number): number {
  const rope = createRopeTables(config.seqLen, headDim(config), config.ropeBase);
  const names = Object.keys(model.params).filter((name) => name.startsWith('layers.0.attn.'));
  const program = compileProgram('the attention pass', (inputs: Record<string, tf.Tensor>) => {
    const mask = tf.tidy(() => {
      const rows = tf.range(0, config.seqLen, 1, 'int32').expandDims(1);
      const cols = tf.range(0, config.seqLen, 1, 'int32').expandDims(0);
      return tf.where(
        tf.lessEqual(cols, rows),
        tf.zeros([config.seqLen, config.seqLen]),
        tf.fill([config.seqLen, config.seqLen], -1e9),
      );
    });
    const f = (x: tf.Tensor, ...weights: tf.Tensor[]) => {
      const params = { ...model.params, ...Object.fromEntries(names.map((name, i) => [name, weights[i]])) };
      const { out } = ATTENTION_VARIANTS[config.attention].forward(x, {
        config,
        params: params as Parameters,
        layer: 0,
        rope: ropeWindow(rope, 0, config.seqLen),
        rotation: rope.rotation,
        mask,
        capture: false,
      });
      return tf.sum(tf.mul(out, inputs.upstream));
    };
    const grads = tf.grads(f)([inputs.x, ...names.map((name) => inputs[name])]);
    return Object.fromEntries(grads.map((grad, i) => [`g${i}`, grad]));
  });
  const x = tf.randomNormal([batch, config.seqLen, config.width], 0, 1, 'float32', 2);
  const upstream = tf.randomNormal([batch, config.seqLen, config.width], 0, 1, 'float32', 3);
  const inputs = { x, upstream, ...Object.fromEntries(names.map((name) => [name, model.params[name]])) };
  const call = () => {
    const out = program(inputs);
    for (const grad of Object.values(out)) grad.dataSync();
    tf.dispose(Object.values(out));
  };
  call(); // compiles
  const ms = medianMs(call, steps);
  program.dispose();
  tf.dispose([x, upstream]);
  return ms;
}

async function run(engine: EngineName, size: SizeName, attention: Attention, steps: number, threads: number) {
  const { model: shape, batch } = SIZES[size];
  const config = resolveModelConfig({ ...shape, attention });
  await useEngine(engine, {
    threads: threads || undefined,
    stepFlops: trainingFlopsPerToken(config) * batch * config.seqLen,
  });
  const model = Decoder.create(config, 1);
  const optimizer = createOptimizer(model);
  const trainer = new Trainer(model, optimizer);
  const data = tf.randomUniform([batch, config.seqLen + 1], 0, config.vocabSize, 'int32', 1);
  const inputs = data.slice([0, 0], [batch, config.seqLen]) as tf.Tensor2D;
  const targets = data.slice([0, 1], [batch, config.seqLen]) as tf.Tensor2D;
  const step = () => {
    trainer.step([{ inputs, targets }], 1e-4, 1); // reads the loss back: waits for the engine
  };
  const warmup = 2;
  for (let i = 0; i < warmup; i++) step();
  const tensorsBefore = tf.memory().numTensors;
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const start = performance.now();
    step();
    times.push(performance.now() - start);
  }
  const leakedPerStep = (tf.memory().numTensors - tensorsBefore) / steps;
  times.sort((a, b) => a - b);
  const msPerStep = times[Math.floor(times.length / 2)];
  const attentionShare = (config.layers * attentionMs(model, config, batch, steps)) / msPerStep;
  const tokensPerSecond = (batch * config.seqLen * 1000) / msPerStep;
  return {
    engine,
    size,
    attention,
    parameters: countParameters(config).total,
    msPerStep,
    tokensPerSecond,
    gflops: (tokensPerSecond * trainingFlopsPerToken(config)) / 1e9,
    attentionShare,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    leakedPerStep,
  };
}

if (process.argv[1]?.endsWith('bench-one.js')) {
  const [engine, size, attention, steps, threads] = process.argv.slice(2);
  run(engine as EngineName, size as SizeName, attention as Attention, Number(steps), Number(threads ?? 0)).then(
    (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
    (error) => {
      process.stdout.write(`${JSON.stringify({ error: String(error?.message ?? error) })}\n`);
      process.exitCode = 1;
    },
  );
}
