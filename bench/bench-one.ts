/**
 * One benchmark case in its own process (so that peak RSS belongs to it alone):
 *   node dist/bench/bench-one.js ENGINE SIZE ATTENTION STEPS [THREADS]
 * prints one JSON line with the timing of a full training step (forward, backward, AdamW).
 */
import * as tf from '@tensorflow/tfjs';
import { useEngine, type EngineName } from '../src/backend/engines.js';
import { resolveModelConfig, type Attention } from '../src/config/model.js';
import { Decoder } from '../src/model/decoder.js';
import { countParameters, trainingFlopsPerToken } from '../src/model/parameters.js';
import { createOptimizer, Trainer } from '../src/train/step.js';

export const SIZES = {
  baby: { model: { vocabSize: 65, layers: 4, width: 128, heads: 4, seqLen: 64 }, batch: 12 },
  small: { model: { vocabSize: 4096, layers: 6, width: 256, heads: 8, seqLen: 128 }, batch: 8 },
} as const;
export type SizeName = keyof typeof SIZES;

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
  const tokensPerSecond = (batch * config.seqLen * 1000) / msPerStep;
  return {
    engine,
    size,
    attention,
    parameters: countParameters(config).total,
    msPerStep,
    tokensPerSecond,
    gflops: (tokensPerSecond * trainingFlopsPerToken(config)) / 1e9,
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
