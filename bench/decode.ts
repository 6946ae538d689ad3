/**
 * npm run bench -- --decode [--engines tensorflow,wasm --sizes baby,small,ctx512 --attentions standard,diff
 *   --batches 1,8]
 * Decoding speed: prefill and decode tokens/s per engine, size, attention and batch, greedy, half the
 * context as the prompt and the other half generated, each case in a fresh process (bench/decode-one.ts);
 * beside them transformers' generate() on difft's own export of the same checkpoint
 * (bench/decode-reference.py, the faster of 1 and 2 threads) when a Python with torch and transformers is
 * found. The sizes are the training bench's shapes with the byte vocabulary (an export needs a tokenizer).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listEngines } from '../src/backend/engines.js';
import { ATTENTIONS } from '../src/config/model.js';
import { EXPORT_FILES } from '../src/formats/export.js';
import { SIZES, type SizeName } from './bench-one.js';
import { findPython } from './pytorch.js';

const bin = fileURLToPath(new URL('../../bin/difft.js', import.meta.url));
const worker = fileURLToPath(new URL('./decode-one.js', import.meta.url));
const reference = fileURLToPath(new URL('../../bench/decode-reference.py', import.meta.url));

interface DecodeResult {
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
  firstPassMs?: number;
  threads?: number;
}

function run(command: string, args: string[]): { ok: boolean; out: string; err: string } {
  const child = spawnSync(command, args, { encoding: 'utf8', env: { ...process.env, CI: 'true' } });
  return { ok: child.status === 0, out: child.stdout, err: child.stderr.trim().split('\n').pop() ?? '' };
}

/** A one-step checkpoint of the size's shape (byte vocabulary), and its export. */
function checkpointOf(dir: string, size: SizeName, attention: string): { run: string; exported?: string } {
  const { layers, width, heads, seqLen } = SIZES[size].model;
  const runDir = join(dir, `${size}-${attention}`);
  const set = Object.entries({
    'model.attention': attention,
    'model.layers': layers,
    'model.width': width,
    'model.heads': heads,
    'model.seqLen': seqLen,
    'data.dir': join(dir, 'data'),
    'train.steps': 1,
    'train.batchSize': 1,
    'eval.every': 0,
    'output.saveEvery': 0,
    'output.tensorboard': false,
  }).flatMap(([key, value]) => ['--set', `${key}=${value}`]);
  const trained = run(process.execPath, [bin, 'train', '--config', 'default', ...set, '--out', runDir, '-b', 'wasm']);
  if (!trained.ok) throw new Error(`training the ${size} ${attention} checkpoint: ${trained.err}`);
  const exported = join(dir, `${size}-${attention}-hf`);
  return {
    run: runDir,
    exported: run(process.execPath, [bin, 'export', runDir, '--out', exported]).ok ? exported : undefined,
  };
}

/** Whether an export carries its own modeling code (auto_map) rather than being Llama or DiffLlama. */
function hasOwnCode(exported: string): boolean {
  return 'auto_map' in JSON.parse(readFileSync(join(exported, EXPORT_FILES.config), 'utf8'));
}

function parse(result: { ok: boolean; out: string; err: string }): DecodeResult | { error: string } {
  try {
    return JSON.parse(result.out.trim().split('\n').pop() ?? '');
  } catch {
    return { error: result.err || 'no result' };
  }
}

export async function decodeBench(options: {
  engines?: string;
  sizes: string;
  attentions: string;
  batches: string;
}): Promise<void> {
  const available = (await listEngines()).filter((e) => e.available).map((e) => e.name);
  const engines = options.engines?.split(',') ?? available.filter((name) => name !== 'cpu' && name !== 'webgpu');
  const python = findPython(['torch', 'transformers']);
  const sizes = (options.sizes === 'baby,small' ? 'baby,small,ctx512' : options.sizes).split(',') as SizeName[];
  const batches = options.batches.split(',').map(Number);
  const dir = mkdtempSync(join(tmpdir(), 'difft-decode-bench-'));
  process.stdout.write(
    'difft bench --decode: greedy, half the context as the prompt, half generated; tokens/s over every row\n',
  );
  const header = ['size', 'attention', 'engine', 'batch', 'prefill tok/s', 'decode tok/s', 'first pass ms'];
  const rows: string[][] = [];
  const show = (row: string[]) => {
    rows.push(row);
    process.stdout.write(`  ${row.join('  ')}\n`);
  };
  for (const size of sizes) {
    for (const attention of options.attentions.split(',').filter((a) => ATTENTIONS.includes(a as never))) {
      const { run: runDir, exported } = checkpointOf(dir, size, attention);
      for (const batch of batches) {
        for (const engine of engines) {
          const result = parse(run(process.execPath, [worker, engine, runDir, String(batch)]));
          show(cells(size, attention, engine, batch, result));
        }
        if (python && exported && hasOwnCode(exported)) {
          // diff2 and ablations export with their own modeling code, which keeps no key/value cache: every
          // token re-reads the sequence (minutes at 512 positions), nothing a generate() comparison is about
          show([size, attention, 'transformers', String(batch), 'not timed: the remote code keeps no KV cache']);
        } else if (python && exported) {
          const tried = [1, 2].map((threads) =>
            parse(run(python, [reference, exported, String(batch), String(threads)])),
          );
          const ok = tried.filter((r): r is DecodeResult => !('error' in r));
          const best = ok.sort((a, b) => b.decodeTokensPerSecond - a.decodeTokensPerSecond)[0] ?? tried[0];
          show(cells(size, attention, 'transformers', batch, best));
        }
      }
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (row: string[]) => `| ${row.map((c, i) => (c ?? '').padEnd(widths[i])).join(' | ')} |`;
  process.stdout.write(
    `\n${line(header)}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n${rows.map(line).join('\n')}\n`,
  );
}

function cells(
  size: string,
  attention: string,
  engine: string,
  batch: number,
  result: DecodeResult | { error: string },
): string[] {
  if ('error' in result) return [size, attention, engine, String(batch), `error: ${result.error}`];
  return [
    size,
    attention,
    engine,
    String(batch),
    result.prefillTokensPerSecond.toFixed(0),
    result.decodeTokensPerSecond.toFixed(0),
    result.firstPassMs === undefined ? '-' : result.firstPassMs.toFixed(0),
  ];
}
