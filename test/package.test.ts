import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { RUN_FILES } from '../src/formats/run.js';
import { difft, REPO_ROOT } from './helpers/cli.js';

/**
 * difft as a package: packed with `npm pack`, installed into an empty directory, imported by name
 * from a TypeScript program that the declarations typecheck, and the README's example run as written.
 */
const home = mkdtempSync(join(tmpdir(), 'difft-package-'));

function sh(command: string, args: string[], cwd = home): SpawnSyncReturns<string> {
  const child = spawnSync(command, args, { cwd, encoding: 'utf8', env: { ...process.env, CI: 'true' } });
  assert.equal(child.status, 0, `${command} ${args.join(' ')}:\n${child.stdout}\n${child.stderr}`);
  return child;
}

/** The program a TypeScript user writes: every job through the API, its results printed as JSON. */
const PROGRAM = `
import { evaluate, exportModel, generate, train, UserError, type EvaluateResult, type TrainResult } from 'difft';

const config = {
  model: { attention: 'diff' as const, layers: 1, width: 32, heads: 2, seqLen: 32 },
  data: { corpus: ['brown'], tokenizer: 'byte' },
  train: { steps: 6, batchSize: 4 },
  eval: { every: 6, maxTokens: 2048 },
};
const steps: number[] = [];
const stop = new AbortController();
const callbacks = { onStep: ({ step }: { step: number }) => (steps.push(step), step === 3 && stop.abort()) };
const first: TrainResult = await train({ config, backend: 'wasm', out: 'run', signal: stop.signal, callbacks });
const resumed = await train({ resume: first.runDir, backend: 'wasm', callbacks });
const scores: EvaluateResult[] = await evaluate(resumed.checkpoint, { maxTokens: 2048, backend: 'wasm' });
const text: string = await generate(resumed.checkpoint, { prompt: 'The', maxTokens: 8, temperature: 0 });
const exported = exportModel(resumed.checkpoint, { out: 'exported' });
let refused = '';
try {
  await train({ config: { ...config, model: { ...config.model, layers: 0 } } });
} catch (error) {
  if (error instanceof UserError) refused = error.message;
}
// @ts-expect-error: the declarations say what a config holds
await train({ config: { model: { layers: 'two' } } }).catch(() => {});
console.log(JSON.stringify({ steps, first, resumed, loss: scores[0].loss, fingerprint: scores[0].fingerprint,
  text, exported: exported.architecture, refused }));
`;

describe('difft as a package', () => {
  before(() => {
    // packed from the build the tests run on (--ignore-scripts: no rebuild under the other test files' feet)
    const packed = sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', home], REPO_ROOT);
    const [{ filename }] = JSON.parse(packed.stdout) as { filename: string }[];
    writeFileSync(join(home, 'package.json'), JSON.stringify({ name: 'user', private: true, type: 'module' }));
    sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(home, filename)]);
  });

  it('ships the library, its declarations and presets, and no tests', () => {
    const installed = join(home, 'node_modules', 'difft');
    for (const file of ['dist/src/api/index.js', 'dist/src/api/index.d.ts', 'configs/tiny.yaml', 'bin/difft.js'])
      assert.ok(existsSync(join(installed, file)), `${file} is in the package`);
    assert.ok(!existsSync(join(installed, 'dist', 'test')), 'the tests stay out');
  });

  it('a TypeScript program imports it by name: typechecked, it trains, stops, resumes, evaluates, generates, exports', () => {
    writeFileSync(join(home, 'program.ts'), PROGRAM);
    const tsconfig = {
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        skipLibCheck: true,
        types: ['node'],
        typeRoots: [join(REPO_ROOT, 'node_modules', '@types')],
      },
      files: ['program.ts'],
    };
    writeFileSync(join(home, 'tsconfig.json'), JSON.stringify(tsconfig));
    sh(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json']);
    const out = JSON.parse(sh(process.execPath, ['program.js']).stdout.trim().split('\n').pop()!);

    assert.deepEqual(out.steps, [1, 2, 3, 4, 5, 6], 'stopped after step 3, resumed from it');
    assert.equal(out.first.interrupted, true);
    assert.equal(out.first.step, 3);
    assert.deepEqual([out.resumed.step, out.resumed.interrupted], [6, false]);
    // what the API returned is what the run wrote, and what the command line measures on the same checkpoint
    const metrics = readFileSync(join(out.resumed.runDir, RUN_FILES.metrics), 'utf8').trim().split('\n');
    const records: { valLoss?: number }[] = metrics.map((line) => JSON.parse(line));
    const lastEval = records.filter((record) => record.valLoss !== undefined).pop()!;
    assert.equal(out.resumed.valLoss, lastEval.valLoss);
    const cli = difft(['eval', out.resumed.checkpoint, '--max-tokens', '2048', '--backend', 'wasm', '--json']);
    assert.equal(cli.status, 0, cli.stderr);
    const [measured] = JSON.parse(cli.stdout);
    assert.deepEqual([out.loss, out.fingerprint], [measured.loss, measured.fingerprint]);
    const generated = difft(['generate', out.resumed.checkpoint, '-p', 'The', '-n', '8', '-t', '0', '-b', 'wasm']);
    assert.equal(`The${out.text}\n`, generated.stdout);
    assert.equal(out.exported, 'DiffLlamaForCausalLM');
    assert.match(out.refused, /model\.layers/);
  });

  it("the README's example runs as written", () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const example = /<!-- api-example -->\n```js\n([\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(example, 'README.md has the example after <!-- api-example -->');
    writeFileSync(join(home, 'example.mjs'), example);
    const output = sh(process.execPath, ['example.mjs']).stdout;
    assert.match(output, /step 20: val loss \d\.\d{3}/);
    assert.match(output, /bits per byte \d\.\d{3}, 4-bit attention \+\d\.\d{4}/);
    assert.ok(readdirSync(join(home, 'runs', 'diff2-tiny')).some((name) => name.startsWith('step-')));
  });
});
