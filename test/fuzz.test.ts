import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import YAML from 'yaml';
import { CHECKPOINT_FORMAT, readCheckpoint } from '../src/checkpoint/checkpoint.js';
import { writeSafetensors, readSafetensors } from '../src/checkpoint/safetensors.js';
import { loadExperiment } from '../src/compare/experiment.js';
import { loadConfig, resolveConfig } from '../src/config/load.js';
import { resolveModelConfig } from '../src/config/model.js';
import { parseTaskSpec } from '../src/config/task.js';
import { readManifest } from '../src/data/manifest.js';
import { tokenizerFromHfFile, tokenizerJsonOf } from '../src/data/tokenizer-json.js';
import { UserError } from '../src/errors.js';
import { readPlan } from '../src/formats/comparison.js';
import { readMetrics } from '../src/train/metrics.js';
import { difft, REPO_ROOT } from './helpers/cli.js';

/**
 * Every reader of a file from disk (and the `--set` and `--task` parsers), fed generated and mutated
 * inputs — truncations, flipped bytes, type swaps, nulls, huge numbers, unicode, deep nesting — either
 * accepts them or refuses them with a UserError (one line at the CLI, exit 2). Anything else (a
 * TypeError three modules later, a RangeError, a hang) is a defect. Seeded and bounded for CI;
 * DIFFT_FUZZ_RUNS=N runs each property N times, DIFFT_FUZZ_SEED another seed.
 */
const RUNS = Number(process.env.DIFFT_FUZZ_RUNS ?? 200);
const SEED = Number(process.env.DIFFT_FUZZ_SEED ?? 20261202);
const settings = { numRuns: RUNS, seed: SEED };
const scratch = () => mkdtempSync(join(tmpdir(), 'difft-fuzz-'));

/** True when `read` accepts the input or refuses it as a user's mistake; any other error fails the property. */
function acceptsOrRefuses(read: () => unknown): boolean {
  try {
    read();
  } catch (error) {
    if (error instanceof UserError) {
      assert.ok(!error.message.includes('\n'), `a refusal is one line: ${error.message}`);
      return true;
    }
    throw error;
  }
  return true;
}

/** Any JSON value, deep and odd: unicode keys, huge and negative numbers, nulls, nesting. */
const json = fc.jsonValue({ maxDepth: 6 });

/** A value with one of its leaves (or subtrees) replaced by another value: type swaps, nulls. */
function mutated(base: unknown): fc.Arbitrary<unknown> {
  const paths: (string | number)[][] = [];
  const walk = (node: unknown, path: (string | number)[]) => {
    paths.push(path);
    if (node && typeof node === 'object')
      for (const [key, child] of Object.entries(node)) walk(child, [...path, Array.isArray(node) ? Number(key) : key]);
  };
  walk(base, []);
  const replacement = fc.oneof(json, fc.constant(null), fc.constant(undefined), fc.string(), fc.double());
  return fc.tuple(fc.constantFrom(...paths), replacement).map(([path, value]) => {
    if (path.length === 0) return value;
    const copy = structuredClone(base) as Record<string | number, unknown>;
    let node = copy;
    for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
    node[path[path.length - 1]] = value;
    return copy;
  });
}

describe('fuzz: every reader accepts or refuses in one line', () => {
  it('safetensors: random bytes, cut files, flipped bytes, other headers', () => {
    const dir = scratch();
    const good = join(dir, 'good.safetensors');
    writeSafetensors(good, {
      a: { shape: [2, 3], data: new Float32Array(6).fill(1.5) },
      b: { shape: [4], data: new Float32Array(4) },
    });
    const bytes = readFileSync(good);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
    const withHeader = (value: unknown) => {
      const text = Buffer.from(JSON.stringify(value) ?? 'null');
      const length = Buffer.alloc(8);
      length.writeBigUInt64LE(BigInt(text.length));
      return Buffer.concat([length, text, bytes.subarray(8 + headerLength)]);
    };
    const file = join(dir, 'f.safetensors');
    const inputs = fc.oneof(
      fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.from(b)),
      fc.nat(bytes.length).map((n) => bytes.subarray(0, n)),
      fc
        .tuple(fc.nat(bytes.length - 1), fc.integer({ min: 1, max: 255 }))
        .map(([at, xor]) => Buffer.from(bytes.map((b, i) => (i === at ? b ^ xor : b)))),
      mutated(header).map(withHeader),
    );
    fc.assert(
      fc.property(inputs, (input) => {
        writeFileSync(file, input);
        return acceptsOrRefuses(() => readSafetensors(file));
      }),
      settings,
    );
  });

  it('an experiment file: mutations of compare-tiny', () => {
    const dir = scratch();
    const base = YAML.parse(readFileSync(join(REPO_ROOT, 'configs/compare-tiny.yaml'), 'utf8'));
    base.base = join(REPO_ROOT, 'configs/tiny.yaml');
    const file = join(dir, 'experiment.yaml');
    fc.assert(
      fc.property(mutated(base), (value) => {
        writeFileSync(file, YAML.stringify(value) ?? '');
        return acceptsOrRefuses(() => loadExperiment(file));
      }),
      settings,
    );
  });

  it("a comparison's plan (experiment.yaml in a results directory)", () => {
    const dir = scratch();
    const plan = {
      name: 'p',
      source: 'x.yaml',
      baseline: 'a',
      variants: [{ name: 'a', set: {} }],
      sweep: {},
      settings: [''],
      seeds: [1],
      runs: [{ name: 'a-seed1', variant: 'a', setting: '', seed: 1 }],
    };
    fc.assert(
      fc.property(fc.oneof(mutated(plan), json), (value) => {
        writeFileSync(join(dir, 'experiment.yaml'), YAML.stringify(value) ?? '');
        return acceptsOrRefuses(() => readPlan(dir));
      }),
      settings,
    );
  });

  it('a run config, as a file holds it and as --set writes it', () => {
    const base = { model: { attention: 'diff', width: 32, heads: 4 }, train: { steps: 10, lr: 0.001 } };
    const keys = ['model.width', 'model.heads', 'model.attention', 'train.lr', 'train.steps', 'data.task.kind', 'x.y'];
    const assignment = fc
      .tuple(
        fc.constantFrom(...keys),
        fc.oneof(fc.string(), fc.double().map(String), fc.constantFrom('.nan', '[', '{a: 1}')),
      )
      .map(([key, value]) => `${key}=${value}`);
    fc.assert(
      fc.property(fc.oneof(mutated(base), json), fc.array(assignment, { maxLength: 3 }), (raw, overrides) => {
        acceptsOrRefuses(() => resolveConfig(raw as Record<string, unknown>));
        return acceptsOrRefuses(() => loadConfig(undefined, overrides));
      }),
      settings,
    );
  });

  it('a task spec (--task)', () => {
    const spec = fc.oneof(
      fc.string(),
      fc
        .array(fc.tuple(fc.constantFrom('needles', 'queries', 'keys', 'length', 'kind', 'zz'), fc.string()), {
          maxLength: 4,
        })
        .map((pairs) => `needles:${pairs.map(([k, v]) => `${k}=${v}`).join(',')}`),
    );
    fc.assert(
      fc.property(spec, (text) => acceptsOrRefuses(() => parseTaskSpec(text))),
      settings,
    );
  });

  it("a dataset's manifest.json", () => {
    const dir = scratch();
    const split = {
      tokens: 10,
      bytes: 10,
      sections: 1,
      shards: [{ file: 'train-000000.bin', tokens: 10 }],
      sha256: 'x',
    };
    const manifest = {
      format: 'difft-dataset',
      version: 1,
      key: 'k',
      tokenizer: { kind: 'byte' },
      vocabSize: 256,
      dtype: 'uint8',
      valFraction: 0.05,
      sources: [{ source: 'a', files: 1, bytes: 10 }],
      splits: { train: split, val: split },
      createdAt: 'now',
    };
    fc.assert(
      fc.property(fc.oneof(mutated(manifest), json), (value) => {
        writeFileSync(join(dir, 'manifest.json'), JSON.stringify(value) ?? '');
        return acceptsOrRefuses(() => readManifest(dir));
      }),
      settings,
    );
  });

  it("a checkpoint's config.json and state.json", () => {
    const dir = join(scratch(), 'step-000001');
    mkdirSync(dir);
    for (const name of ['model.safetensors', 'optimizer.safetensors']) writeFileSync(join(dir, name), '');
    const config = {
      difftVersion: 'x',
      format: CHECKPOINT_FORMAT,
      run: {},
      model: resolveModelConfig({ vocabSize: 256 }),
      tokenizer: { kind: 'tiktoken', name: 'gpt2' },
      dataset: { dir: 'd', key: 'k' },
    };
    const sampler = { seed: 1, rng: 5, batches: 1 };
    const state = { step: 1, tokens: 8, lr: 0.1, optimizerStep: 1, sampler, elapsedSeconds: 1, engine: 'cpu' };
    fc.assert(
      fc.property(fc.oneof(mutated(config), json), fc.oneof(mutated(state), json), (configValue, stateValue) => {
        writeFileSync(join(dir, 'config.json'), JSON.stringify(configValue) ?? '');
        writeFileSync(join(dir, 'state.json'), JSON.stringify(stateValue) ?? '');
        return acceptsOrRefuses(() => readCheckpoint(dir));
      }),
      settings,
    );
  });

  it('a tokenizer.json beside an import', () => {
    const files = [tokenizerJsonOf({ kind: 'byte' }), tokenizerJsonOf({ kind: 'char', symbols: ['?', 'a', 'b'] })];
    fc.assert(
      fc.property(fc.oneof(...files.map(mutated), json), (value) =>
        acceptsOrRefuses(() => tokenizerFromHfFile(value as never)),
      ),
      settings,
    );
  });

  it('metrics.jsonl: records with swapped types, cut lines, noise', () => {
    const dir = scratch();
    mkdirSync(dir, { recursive: true });
    const record = { type: 'train', step: 1, tokens: 8, loss: 2.5, lr: 0.001, gradNorm: 1, elapsedSeconds: 0.1 };
    const line = fc.oneof(
      mutated(record).map((value) => JSON.stringify(value) ?? ''),
      fc.string(),
      fc.nat(40).map((n) => JSON.stringify(record).slice(0, n)),
    );
    fc.assert(
      fc.property(fc.array(line, { maxLength: 5 }), (lines) => {
        writeFileSync(join(dir, 'metrics.jsonl'), lines.join('\n'));
        return acceptsOrRefuses(() => readMetrics(join(dir, 'metrics.jsonl')));
      }),
      settings,
    );
  });

  it('the command line: random flags and values for every command that reads, never an internal error', () => {
    const dir = scratch();
    const garbage = join(dir, 'garbage.bin');
    writeFileSync(garbage, Buffer.from([0, 255, 10, 123, 34]));
    const corpus = join(dir, 'corpus.txt');
    writeFileSync(corpus, 'a few words of text\n'.repeat(50));
    const fakeCheckpoint = join(dir, 'step-000001');
    mkdirSync(fakeCheckpoint);
    for (const name of ['model.safetensors', 'config.json', 'state.json'])
      writeFileSync(join(fakeCheckpoint, name), '{');
    const path = fc.constantFrom(join(dir, 'missing'), garbage, fakeCheckpoint, dir, join(REPO_ROOT, 'configs'));
    const value = fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.double().map(String),
      fc.constantFrom('-1', '0', '1e9', 'NaN'),
    );
    const flag = fc.constantFrom(
      '--max-tokens',
      '--temperature',
      '--top-k',
      '--top-p',
      '--seed',
      '--batch-size',
      '--bogus',
    );
    const flags = fc.array(fc.tuple(flag, value), { maxLength: 3 }).map((pairs) => pairs.flat());
    const tokenizer = fc.constantFrom('byte', 'char', 'gpt2', 'bpe:9', 'bpe:300000', 'nonsense');
    const argv = fc.oneof(
      fc
        .tuple(
          fc.array(
            fc.tuple(
              fc.constant('--set'),
              value.map((v) => `model.width=${v}`),
            ),
            { maxLength: 2 },
          ),
        )
        .map(([sets]) => ['train', '--print-config', ...sets.flat()]),
      fc.tuple(fc.constantFrom('eval', 'generate'), path, flags).map(([c, p, f]) => [c, p, ...f, '--backend', 'wasm']),
      fc.tuple(fc.constantFrom('info', 'report'), path).map(([c, p]) => [c, p]),
      fc.tuple(path, value).map(([p, v]) => ['export', p, '--out', join(dir, 'out'), '--format', v]),
      fc
        .tuple(tokenizer, value)
        .map(([t, v]) => [
          'prepare',
          '--corpus',
          corpus,
          '--tokenizer',
          t,
          '--val-fraction',
          v,
          '--out',
          join(dir, 'd'),
        ]),
    );
    fc.assert(
      fc.property(argv, (args) => {
        const result = difft(
          [...args, '--backend', 'wasm'].filter((a) => a !== ''),
          { timeout: 60_000 },
        );
        assert.ok(
          result.status === 0 || result.status === 2,
          `${args.join(' ')}: exit ${result.status}\n${result.stderr}`,
        );
        assert.doesNotMatch(result.stderr, /internal error/, args.join(' '));
      }),
      { ...settings, numRuns: Number(process.env.DIFFT_FUZZ_CLI_RUNS ?? 8) },
    );
  });
});
