/**
 * npm run bench [-- --engines wasm,cpu --sizes baby,small --attentions standard,diff --steps 10 --threads 1]
 * Times full training steps per engine, model size and attention, each case in a fresh process,
 * then the step-time ratio of each attention to the baseline per engine and size.
 * Default engines: every available one except the slow cpu reference (ask for it with --engines).
 * --threads sets the tensorflow engine's thread count (default: one per core).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { listEngines } from '../src/backend/engines.js';
import { ATTENTIONS } from '../src/config/model.js';
import { SIZES } from './bench-one.js';

const { values } = parseArgs({
  options: {
    engines: { type: 'string' },
    sizes: { type: 'string', default: Object.keys(SIZES).join(',') },
    attentions: { type: 'string', default: ATTENTIONS.join(',') },
    steps: { type: 'string', default: '8' },
    threads: { type: 'string', default: '0' },
  },
});

const available = (await listEngines()).filter((e) => e.available).map((e) => e.name);
const engines = values.engines ? values.engines.split(',') : available.filter((name) => name !== 'cpu');
const worker = fileURLToPath(new URL('./bench-one.js', import.meta.url));

const header = ['engine', 'size', 'attention', 'params', 'ms/step', 'tokens/s', 'GFLOP/s', 'peak RSS MiB', 'leaked/step'];
const rows: string[][] = [];
const msPerStep = new Map<string, number>();
process.stdout.write(`difft bench: full training step (forward, backward, AdamW), median of ${values.steps} steps after 2 warm-up\n`);
for (const engine of engines) {
  for (const size of values.sizes!.split(',')) {
    for (const attention of values.attentions!.split(',')) {
      const child = spawnSync(process.execPath, [worker, engine, size, attention, values.steps!, values.threads!], { encoding: 'utf8' });
      const last = child.stdout.trim().split('\n').pop() ?? '{}';
      let result: Record<string, number | string>;
      try {
        result = JSON.parse(last);
      } catch {
        result = { error: child.stderr.trim().split('\n').pop() ?? `exit ${child.status}` };
      }
      const row = result.error
        ? [engine, size, attention, `error: ${result.error}`]
        : [
            engine,
            size,
            attention,
            Number(result.parameters).toLocaleString('en-US'),
            Number(result.msPerStep).toFixed(0),
            Number(result.tokensPerSecond).toFixed(0),
            Number(result.gflops).toFixed(2),
            Number(result.peakRssMiB).toFixed(0),
            String(result.leakedPerStep),
          ];
      rows.push(row);
      if (!result.error) msPerStep.set(`${engine} ${size} ${attention}`, Number(result.msPerStep));
      process.stdout.write(`  ${row.join('  ')}\n`);
    }
  }
}
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => (c ?? '').padEnd(widths[i])).join(' | ')} |`;
process.stdout.write(`\n${line(header)}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n${rows.map(line).join('\n')}\n`);

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
