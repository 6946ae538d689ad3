/**
 * npm run bench [-- --engines wasm,cpu --sizes baby,small,ctx256,ctx512,ctx1024 --attentions standard,diff --steps 10 --threads 1]
 * npm run bench -- --decode [--batches 1,8 …]: decoding instead (bench/decode.ts)
 * Times full training steps per engine, model size and attention, each case in a fresh process,
 * then the step-time ratio of each attention to the baseline per engine and size.
 * Default engines: every available one except the slow cpu reference (ask for it with --engines),
 * and `pytorch` — the same model and step in PyTorch (bench/pytorch-reference.py) — when a Python
 * with torch is found (DIFFT_PYTHON, DIFFT_HF_PYTHON, .difft/hf-python, python3); `pytorch-compile`
 * (the model through torch.compile, as nanoGPT runs it) when asked for with --engines.
 * --threads sets the thread count (default: tensorflow chooses by the step's size, pytorch the faster of 1 and 2).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { listEngines } from '../src/backend/engines.js';
import { ATTENTIONS, type Attention, resolveModelConfig } from '../src/config/model.js';
import { trainingFlopsPerToken } from '../src/model/parameters.js';
import { SIZES, type SizeName } from './bench-one.js';
import { findPython, PYTORCH_ATTENTIONS, runPytorchReference } from './pytorch.js';

const { values } = parseArgs({
  options: {
    engines: { type: 'string' },
    // the long-context sizes on request (--sizes ctx256,ctx512,ctx1024): they take minutes
    sizes: { type: 'string', default: 'baby,small' },
    attentions: { type: 'string', default: ATTENTIONS.join(',') },
    steps: { type: 'string', default: '8' },
    threads: { type: 'string', default: '0' },
    // decoding instead of training steps (bench/decode.ts)
    decode: { type: 'boolean', default: false },
    batches: { type: 'string', default: '1,8' },
  },
});

if (values.decode) {
  await (await import('./decode.js')).decodeBench({
    engines: values.engines,
    sizes: values.sizes!,
    attentions: values.attentions!,
    batches: values.batches!,
  });
  process.exit(0);
}

const worker = fileURLToPath(new URL('./bench-one.js', import.meta.url));
const available = (await listEngines()).filter((e) => e.available).map((e) => e.name);
const torchPython = findPython(['torch']);
const engines = values.engines
  ? values.engines.split(',')
  : [...available.filter((name) => name !== 'cpu'), ...(torchPython ? ['pytorch'] : [])];

/** One case in a fresh process: difft's bench-one.js, or the PyTorch reference. */
function runCase(engine: string, size: string, attention: string): Record<string, number | string> | undefined {
  if (engine === 'pytorch' || engine === 'pytorch-compile') {
    if (!PYTORCH_ATTENTIONS.includes(attention)) return undefined;
    if (!torchPython) return { error: 'no Python with torch here (set DIFFT_PYTHON)' };
    const { model, batch } = SIZES[size as SizeName];
    const config = resolveModelConfig({ ...model, attention: attention as Attention });
    const options = {
      steps: Number(values.steps),
      threads: Number(values.threads),
      compile: engine === 'pytorch-compile',
    };
    const result = runPytorchReference(torchPython, config, batch, options);
    // the same FLOP count as difft's rows, from difft's own model shape
    return 'error' in result
      ? result
      : { ...result, gflops: (result.tokensPerSecond * trainingFlopsPerToken(config)) / 1e9 };
  }
  const child = spawnSync(process.execPath, [worker, engine, size, attention, values.steps!, values.threads!], {
    encoding: 'utf8',
  });
  try {
    return JSON.parse(child.stdout.trim().split('\n').pop() ?? '');
  } catch {
    return { error: child.stderr.trim().split('\n').pop() ?? `exit ${child.status}` };
  }
}

const header = [
  'engine',
  'size',
  'attention',
  'params',
  'ms/step',
  'tokens/s',
  'GFLOP/s',
  'attention %',
  'peak RSS MiB',
  'leaked/step',
];
const rows: string[][] = [];
const msPerStep = new Map<string, number>();
process.stdout.write(
  `difft bench: full training step (forward, backward, AdamW), median of ${values.steps} steps after 2 warm-up\n`,
);
for (const engine of engines) {
  for (const size of values.sizes!.split(',')) {
    for (const attention of values.attentions!.split(',')) {
      const result = runCase(engine, size, attention);
      if (!result) continue;
      const row = result.error
        ? [engine, size, attention, `error: ${result.error}`]
        : [
            engine,
            size,
            attention,
            Number(result.parameters).toLocaleString('en-US'),
            Number(result.msPerStep).toFixed(Number(result.msPerStep) < 100 ? 1 : 0),
            Number(result.tokensPerSecond).toFixed(0),
            Number(result.gflops).toFixed(2),
            result.attentionShare === undefined ? '-' : (100 * Number(result.attentionShare)).toFixed(0),
            Number(result.peakRssMiB).toFixed(0),
            result.leakedPerStep === undefined ? '-' : String(result.leakedPerStep),
          ];
      rows.push(row);
      if (!result.error) msPerStep.set(`${engine} ${size} ${attention}`, Number(result.msPerStep));
      process.stdout.write(`  ${row.join('  ')}\n`);
    }
  }
}
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => (c ?? '').padEnd(widths[i])).join(' | ')} |`;
process.stdout.write(
  `\n${line(header)}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n${rows.map(line).join('\n')}\n`,
);

const ratios: string[] = [];
for (const engine of engines) {
  for (const size of values.sizes!.split(',')) {
    const baseline = msPerStep.get(`${engine} ${size} standard`);
    if (!baseline) continue;
    const parts = ATTENTIONS.filter((a) => a !== 'standard' && msPerStep.has(`${engine} ${size} ${a}`)).map(
      (a) => `${a}/standard ${(msPerStep.get(`${engine} ${size} ${a}`)! / baseline).toFixed(2)}`,
    );
    if (parts.length) ratios.push(`  ${engine} ${size}: ${parts.join(', ')}`);
  }
}
if (ratios.length) process.stdout.write(`\nstep time relative to standard:\n${ratios.join('\n')}\n`);
