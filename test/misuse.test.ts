import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import YAML from 'yaml';
import { DIFFT_BIN, REPO_ROOT, difft } from './helpers/cli.js';

/**
 * The ordinary mistakes of a busy researcher, each of which used to lose data or report wrong
 * results with exit code 0: two runs in one directory, a new run over a finished one, an edited
 * experiment re-run into its old results, an export over a run, a full or read-only disk. Every
 * case goes through the command line, as a user meets it.
 */
const scratch = () => mkdtempSync(join(tmpdir(), 'difft-misuse-'));
const data = scratch(); // token shards shared by every case (prepared once, by the first run)
const TINY = join(REPO_ROOT, 'configs/tiny.yaml');

function trainArgs(out: string, ...extra: string[]): string[] {
  return ['train', '--config', TINY, '--out', out, '--set', `data.dir=${data}`, '--backend', 'wasm', ...extra];
}

/** One line on stderr, naming `mentions`, exit code 2, no stack trace. */
function assertRefused(result: { status: number | null; stderr: string }, ...mentions: (string | RegExp)[]): void {
  assert.equal(result.status, 2, result.stderr);
  const lines = result.stderr
    .trim()
    .split('\n')
    .filter((line) => line.startsWith('difft:'));
  assert.equal(lines.length, 1, result.stderr);
  assert.doesNotMatch(result.stderr, /internal error|\n\s+at /, 'no stack trace');
  for (const mention of mentions) {
    if (typeof mention === 'string') assert.ok(lines[0].includes(mention), `"${mention}" in: ${lines[0]}`);
    else assert.match(lines[0], mention);
  }
}

type MetricsLine = { type: string; step: number };
const metricsOf = (runDir: string): MetricsLine[] =>
  readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as MetricsLine);

/** Each training step logged exactly once, 1..steps. */
function assertOneRun(runDir: string, steps: number): void {
  const trainSteps = metricsOf(runDir)
    .filter((r) => r.type === 'train')
    .map((r) => r.step);
  assert.deepEqual(
    trainSteps,
    Array.from({ length: steps }, (_, i) => i + 1),
  );
}

/** A pid that certainly ran and is certainly gone. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

describe('misuse: a run directory belongs to one run', () => {
  it('a second train into a directory in use is refused, naming the holder; the first run ends intact', async () => {
    const out = join(scratch(), 'run');
    const first = spawn(process.execPath, [DIFFT_BIN, ...trainArgs(out, '--set', 'train.steps=150')], {
      cwd: REPO_ROOT,
      env: { ...process.env, CI: 'true' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let firstErr = '';
    first.stderr.on('data', (chunk) => (firstErr += chunk));
    const exited = new Promise<number | null>((done) => first.on('exit', (code) => done(code)));
    while (!existsSync(join(out, 'metrics.jsonl'))) await new Promise((wait) => setTimeout(wait, 50));
    const second = difft(trainArgs(out, '--set', 'train.steps=150'));
    assertRefused(second, out, 'is in use by process', String(first.pid));
    assert.equal(await exited, 0, firstErr);
    assertOneRun(out, 150);
    assert.ok(!existsSync(join(out, '.difft.lock')), 'the lock is gone with its holder');
  });

  it('a lock left by a dead process is taken over, with a warning', () => {
    const out = join(scratch(), 'run');
    mkdirSync(out);
    const stale = { pid: deadPid(), host: hostname(), command: 'training', started: '2026-01-01T00:00:00Z' };
    writeFileSync(join(out, '.difft.lock'), JSON.stringify(stale));
    const result = difft(trainArgs(out));
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stderr, /took over the lock of process \d+/);
    assertOneRun(out, 20);
  });

  it('a lock file that does not hold a whole holder (a pid of -1, a host of null) is taken over, with a warning', () => {
    for (const holder of [
      { pid: -1, host: hostname(), command: 'x', started: 'y' },
      { pid: deadPid(), host: null },
    ]) {
      const out = join(scratch(), 'run');
      mkdirSync(out);
      writeFileSync(join(out, '.difft.lock'), JSON.stringify(holder));
      const result = difft(trainArgs(out, '--set', 'train.steps=1'));
      assert.equal(result.status, 0, result.stderr);
      assert.match(result.stderr, /took over the lock of a process that is no longer running/);
    }
  });

  it('a directory where the lock file goes: one line naming it, nothing left beside it', () => {
    const out = join(scratch(), 'run');
    mkdirSync(join(out, '.difft.lock'), { recursive: true });
    assertRefused(difft(trainArgs(out)), join(out, '.difft.lock'), 'is not a file');
    assert.deepEqual(readdirSync(out), ['.difft.lock']);
  });

  it('train into a finished run without --resume is refused and leaves it untouched; --overwrite starts over', () => {
    const out = join(scratch(), 'run');
    assert.equal(difft(trainArgs(out)).status, 0);
    const before = readFileSync(join(out, 'metrics.jsonl'), 'utf8');
    assertRefused(difft(trainArgs(out, '--set', 'train.lr=0.002')), out, '--resume', '--overwrite', 'step 20 of 20');
    assert.equal(readFileSync(join(out, 'metrics.jsonl'), 'utf8'), before);
    const again = difft(trainArgs(out, '--set', 'train.steps=10', '--overwrite'));
    assert.equal(again.status, 0, again.stderr);
    assertOneRun(out, 10);
    assert.deepEqual(
      readdirSync(out).filter((name) => name.startsWith('step-')),
      ['step-000010'],
      'no step directory of the old run is left',
    );
  });

  it('resuming from an older checkpoint is refused; with --discard-later the run keeps one history', () => {
    const out = join(scratch(), 'run');
    const steps = (n: number) => ['--set', `train.steps=${n}`, '--set', 'output.saveEvery=3', '--set', 'eval.every=3'];
    assert.equal(difft(trainArgs(out, ...steps(6))).status, 0);
    const resume = (...extra: string[]) =>
      difft(['train', '--resume', join(out, 'step-000003'), '--set', 'train.steps=4', ...extra]);
    const before = readFileSync(join(out, 'metrics.jsonl'), 'utf8');
    assertRefused(resume(), 'step-000006', 'after step 3', '--discard-later');
    assert.equal(readFileSync(join(out, 'metrics.jsonl'), 'utf8'), before, 'the refused resume changed nothing');
    const branched = resume('--discard-later');
    assert.equal(branched.status, 0, branched.stderr);
    assert.match(branched.stderr, /removed step-000006.*continues from step 3/);
    assertOneRun(out, 4);
    const checkpoints = () => readdirSync(out).filter((name) => name.startsWith('step-'));
    assert.deepEqual(checkpoints(), ['step-000003', 'step-000004']);
    const more = difft(['train', '--resume', out, '--set', 'train.steps=5']);
    assert.equal(more.status, 0, more.stderr);
    assertOneRun(out, 5);
  });

  it('a new run goes only into a new or empty directory, never into a checkpoint or a stranger folder', () => {
    const folder = join(scratch(), 'notes');
    mkdirSync(folder);
    writeFileSync(join(folder, 'ideas.txt'), 'mine\n');
    assertRefused(difft(trainArgs(folder)), folder, 'not empty');
    assert.equal(readFileSync(join(folder, 'ideas.txt'), 'utf8'), 'mine\n');
    const file = join(scratch(), 'a-file');
    writeFileSync(file, 'x');
    assertRefused(difft(trainArgs(file)), file, 'is a file');
  });
});

describe('misuse: experiments notice edits', () => {
  const experimentText = readFileSync(join(REPO_ROOT, 'configs/compare-tiny.yaml'), 'utf8')
    .replace('base: tiny.yaml', `base: ${TINY}`)
    .replace('config:\n', `config:\n  data.dir: ${data}\n  train.backend: wasm\n`);
  const write = (dir: string, text: string) => {
    const file = join(dir, 'experiment.yaml');
    writeFileSync(file, text);
    return file;
  };

  it('an edited model, train or variant key is refused, naming runs and keys; longer train.steps resumes', () => {
    const dir = scratch();
    const out = join(dir, 'results');
    const file = write(dir, experimentText);
    const first = difft(['compare', file, '--out', out, '--jobs', '1']);
    assert.equal(first.status, 0, first.stderr);
    const report = readFileSync(join(out, 'report.md'), 'utf8');

    const edits: [string, string, string][] = [
      ['model', experimentText.replace('config:\n', 'config:\n  model.layers: 1\n'), 'model.layers'],
      ['train', experimentText.replace('config:\n', 'config:\n  train.lr: 0.002\n'), 'train.lr'],
      ['variant', experimentText.replace('model.attention: diff }', 'model.attention: diff2 }'), 'model.attention'],
    ];
    for (const [kind, text, key] of edits) {
      const refused = difft(['compare', write(dir, text), '--out', out, '--jobs', '1']);
      assertRefused(refused, key, '--retrain-changed', kind === 'variant' ? 'diff-seed1' : 'standard-seed1');
      assert.equal(readFileSync(join(out, 'report.md'), 'utf8'), report, `${kind} edit: the report is unchanged`);
    }

    const longer = difft([
      'compare',
      write(dir, experimentText.replace('train.steps: 6', 'train.steps: 9')),
      '--out',
      out,
    ]);
    assert.equal(longer.status, 0, longer.stderr);
    assert.match(longer.stderr, /resuming/);
    assertOneRun(join(out, 'diff-seed2'), 9);

    const retrained = difft([
      'compare',
      write(
        dir,
        experimentText.replace('train.steps: 6', 'train.steps: 9').replace('config:\n', 'config:\n  train.lr: 0.002\n'),
      ),
      '--out',
      out,
      '--jobs',
      '1',
      '--retrain-changed',
    ]);
    assert.equal(retrained.status, 0, retrained.stderr);
    assertOneRun(join(out, 'standard-seed1'), 9);
    const trained = YAML.parse(readFileSync(join(out, 'standard-seed1', 'config.yaml'), 'utf8')) as {
      train: { lr: number };
    };
    assert.equal(trained.train.lr, 0.002);

    // difft report checks the same: a run whose configuration is not the plan's is refused
    const planFile = join(out, 'experiment.yaml');
    const plan = YAML.parse(readFileSync(planFile, 'utf8')) as { configFingerprints: Record<string, string> };
    plan.configFingerprints['diff-seed1'] = '0000000000000000';
    writeFileSync(planFile, YAML.stringify(plan));
    assertRefused(difft(['report', out]), 'diff-seed1', 'another configuration');
  });

  it('a second compare while one holds a run is refused, naming the holder', () => {
    const dir = scratch();
    const out = join(dir, 'results');
    const oneStep = experimentText.replace('train.steps: 6', 'train.steps: 1');
    assert.equal(difft(['compare', write(dir, oneStep), '--out', out, '--jobs', '1']).status, 0);
    // as if another compare (this test process, which is alive) were training diff-seed2 right now
    const holder = { pid: process.pid, host: hostname(), command: 'comparing: difft compare', started: 'now' };
    writeFileSync(join(out, 'diff-seed2', '.difft.lock'), JSON.stringify(holder));
    const longer = write(dir, experimentText.replace('train.steps: 6', 'train.steps: 2'));
    assertRefused(difft(['compare', longer, '--out', out, '--jobs', '1']), 'in use by process', String(process.pid));
    assertOneRun(join(out, 'standard-seed1'), 1);
  });

  it('compare --out into a run directory is refused', () => {
    const dir = scratch();
    const run = join(dir, 'run');
    assert.equal(difft(trainArgs(run, '--set', 'train.steps=2')).status, 0);
    assertRefused(difft(['compare', write(dir, experimentText), '--out', run]), run, 'run directory');
  });
});

describe('misuse: nothing overwritten that difft did not make for the purpose', () => {
  it('export into a run directory is refused and the run stays resumable; an earlier export is replaced', () => {
    const dir = scratch();
    const run = join(dir, 'run');
    assert.equal(difft(trainArgs(run, '--set', 'model.attention=standard', '--set', 'train.steps=4')).status, 0);
    assertRefused(difft(['export', run, '--out', run]), run, 'run directory');
    assertRefused(difft(['export', run, '--out', join(run, 'step-000004')]), 'checkpoint');
    const resumed = difft(['train', '--resume', run, '--set', 'train.steps=6', '--backend', 'wasm']);
    assert.equal(resumed.status, 0, resumed.stderr);
    assertOneRun(run, 6);

    const exported = join(dir, 'exported');
    assert.equal(difft(['export', run, '--out', exported]).status, 0);
    const again = difft(['export', run, '--out', exported]);
    assert.equal(again.status, 0, again.stderr);
    assert.deepEqual(readdirSync(dir).sort(), ['exported', 'run'], 'no temporary left beside it');
  });

  it('prepare --out into a folder that is not a dataset is refused and leaves its files', () => {
    const folder = join(scratch(), 'mine');
    mkdirSync(folder);
    writeFileSync(join(folder, 'thesis.tex'), 'precious\n');
    const corpus = join(scratch(), 'corpus.txt');
    writeFileSync(corpus, 'some text to tokenise.\n'.repeat(5000));
    assertRefused(difft(['prepare', '--corpus', corpus, '--tokenizer', 'byte', '--out', folder]), folder);
    assert.equal(readFileSync(join(folder, 'thesis.tex'), 'utf8'), 'precious\n');
  });

  it('import into a non-empty directory is refused; a malformed config.json is named', () => {
    const dir = scratch();
    const run = join(dir, 'run');
    assert.equal(difft(trainArgs(run, '--set', 'model.attention=standard', '--set', 'train.steps=2')).status, 0);
    const exported = join(dir, 'exported');
    assert.equal(difft(['export', run, '--out', exported]).status, 0);
    assertRefused(difft(['import', exported, '--out', run, '--backend', 'cpu']), run, 'new or empty');
    writeFileSync(join(exported, 'config.json'), '{"hidden_size": 32,');
    assertRefused(
      difft(['import', exported, '--out', join(dir, 'back'), '--backend', 'cpu']),
      join(exported, 'config.json'),
      'not a transformers config',
    );
  });
});

describe('misuse: every file-system and format failure is one line naming the path', () => {
  it('no space at the first checkpoint: one line, no temporary left, and the run resumes', () => {
    const out = join(scratch(), 'run');
    const full = difft(trainArgs(out), { env: { DIFFT_FAIL_WRITE: 'ENOSPC:step-' } });
    assertRefused(full, join(out, 'step-000010'), 'no space left on device (ENOSPC)');
    assert.deepEqual(
      readdirSync(out).filter((name) => /\.(tmp|old)-\d+$/.test(name)),
      [],
    );
    const resumed = difft(['train', '--resume', out, '--backend', 'wasm']);
    assert.equal(resumed.status, 0, resumed.stderr);
    assertOneRun(out, 20);
  });

  it('weights that do not match their config exactly are refused by eval, resume and export', () => {
    const dir = scratch();
    const runOf = (attention: string) => {
      const run = join(dir, attention);
      const args = ['--set', `model.attention=${attention}`, '--set', 'train.steps=2'];
      assert.equal(difft(trainArgs(run, ...args)).status, 0);
      return join(run, 'step-000002');
    };
    const [standard, diff] = [runOf('standard'), runOf('diff')];
    copyFileSync(join(diff, 'model.safetensors'), join(standard, 'model.safetensors'));
    const weights = join(standard, 'model.safetensors');
    const commands = [
      ['eval', standard, '--backend', 'wasm'],
      ['train', '--resume', standard, '--set', 'train.steps=3'],
      ['export', standard, '--out', join(dir, 'exported')],
    ];
    for (const command of commands)
      assertRefused(difft(command), weights, /tensor layers\.0\.attn\.lambda_\w+ is not part/);
  });

  it('a weight file whose header is well-formed JSON but not a safetensors header: one line, exit 2', () => {
    const dir = scratch();
    const run = join(dir, 'run');
    assert.equal(difft(trainArgs(run, '--set', 'train.steps=2')).status, 0);
    const checkpoint = join(run, 'step-000002');
    const weights = join(checkpoint, 'model.safetensors');
    const original = readFileSync(weights);
    const headerLength = Number(original.readBigUInt64LE(0));
    const header = JSON.parse(original.subarray(8, 8 + headerLength).toString('utf8'));
    const withHeader = (value: unknown) => {
      let json = JSON.stringify(value);
      json += ' '.repeat((8 - (json.length % 8)) % 8);
      const length = Buffer.alloc(8);
      length.writeBigUInt64LE(BigInt(json.length));
      writeFileSync(weights, Buffer.concat([length, Buffer.from(json), original.subarray(8 + headerLength)]));
    };
    const name = 'embed.weight';
    const cases: [unknown, RegExp][] = [
      [{ ...header, [name]: { ...header[name], shape: '16,32' } }, /tensor embed\.weight: shape must be array/],
      [{ ...header, [name]: null }, /tensor embed\.weight must be object/],
      [null, /the header must be object/],
      [{ ...header, [name]: { ...header[name], data_offsets: [0, -4] } }, /data_offsets\.1 must be >= 0/],
    ];
    // every command reads weights through one reader: each command on the first case, each case through info
    const commands = [
      ['info', checkpoint],
      ['eval', checkpoint, '--backend', 'wasm'],
      ['generate', checkpoint, '--prompt', 'a', '-n', '2', '--backend', 'wasm'],
      ['export', checkpoint, '--out', join(dir, 'exported')],
    ];
    cases.forEach(([value, problem], index) => {
      withHeader(value);
      for (const command of index === 0 ? commands : commands.slice(0, 1))
        assertRefused(difft(command), weights, 'damaged weight file', problem);
    });
  });

  it("a checkpoint's state.json or config.json with the wrong shape: one line naming the file and the field", () => {
    const run = join(scratch(), 'run');
    assert.equal(difft(trainArgs(run, '--set', 'train.steps=2')).status, 0);
    const checkpoint = join(run, 'step-000002');
    let first = true;
    for (const [file, edit, problem] of [
      ['state.json', (state: Record<string, unknown>) => ({ ...state, step: '2' }), /step must be integer/],
      ['state.json', (state: Record<string, unknown>) => ({ ...state, sampler: null }), /sampler must be object/],
      [
        'config.json',
        (config: Record<string, unknown>) => ({ ...config, tokenizer: null }),
        /tokenizer must be object/,
      ],
      [
        'config.json',
        (config: Record<string, unknown>) => ({ ...config, model: { ...(config.model as object), width: 'wide' } }),
        /model\.width = "wide": must be a positive integer/,
      ],
    ] as const) {
      const path = join(checkpoint, file);
      const original = readFileSync(path, 'utf8');
      writeFileSync(path, JSON.stringify(edit(JSON.parse(original))));
      // one reader for all: each command on the first file, each case through info
      const commands = [
        ['info', checkpoint],
        ['eval', checkpoint, '--backend', 'wasm'],
        ['train', '--resume', checkpoint, '--set', 'train.steps=3'],
      ];
      for (const command of first ? commands : commands.slice(0, 1)) assertRefused(difft(command), path, problem);
      first = false;
      writeFileSync(path, original);
    }
  });

  it('a damaged metrics file or dataset manifest: one line naming the file (and line); a cut-short last line is dropped', () => {
    const dir = scratch();
    const run = join(dir, 'run');
    const dataDir = join(dir, 'data');
    const args = ['train', '--config', TINY, '--out', run, '--set', `data.dir=${dataDir}`, '--backend', 'wasm'];
    assert.equal(difft([...args, '--set', 'train.steps=4', '--set', 'output.saveEvery=2']).status, 0);
    const metrics = join(run, 'metrics.jsonl');
    const lines = readFileSync(metrics, 'utf8').trim().split('\n');
    const resume = () => difft(['train', '--resume', run, '--set', 'train.steps=5']);
    writeFileSync(
      metrics,
      [lines[0], '{"type":"train","step":"two","tokens":8,"loss":1}', ...lines.slice(1)].join('\n'),
    );
    assertRefused(resume(), `${metrics}:2: not a metrics record (step must be integer)`);
    writeFileSync(metrics, [...lines, '{"type":"train","st'].join('\n'));
    const resumed = resume();
    assert.equal(resumed.status, 0, resumed.stderr);

    const [dataset] = readdirSync(dataDir).filter((name) => !name.startsWith('.'));
    const manifest = join(dataDir, dataset, 'manifest.json');
    const parsed = JSON.parse(readFileSync(manifest, 'utf8'));
    parsed.splits.train.shards[0].file = '../../outside.bin';
    writeFileSync(manifest, JSON.stringify(parsed));
    assertRefused(difft(['eval', run, '--backend', 'wasm']), manifest, 'file must match pattern');
  });

  it('a read-only location and a full disk elsewhere: one line each, exit 2', () => {
    const out = join(scratch(), 'run');
    assertRefused(
      difft(trainArgs(out), { env: { DIFFT_FAIL_WRITE: 'EROFS:metrics.jsonl' } }),
      join(out, 'metrics.jsonl'),
      'read-only file system (EROFS)',
    );
    // the run never saved: resuming it starts over with its config
    const resumed = difft(['train', '--resume', out, '--backend', 'wasm']);
    assert.equal(resumed.status, 0, resumed.stderr);
    assertOneRun(out, 20);

    const dir = scratch();
    const run = join(dir, 'run');
    assert.equal(difft(trainArgs(run, '--set', 'model.attention=standard', '--set', 'train.steps=2')).status, 0);
    const exported = join(dir, 'exported');
    assertRefused(
      difft(['export', run, '--out', exported], { env: { DIFFT_FAIL_WRITE: 'ENOSPC:exported' } }),
      exported,
      'ENOSPC',
    );
    assert.deepEqual(readdirSync(dir), ['run'], 'nothing half-written');
    const corpus = join(dir, 'corpus.txt');
    writeFileSync(corpus, 'some text to tokenise.\n'.repeat(5000));
    const dataset = join(dir, 'dataset');
    assertRefused(
      difft(['prepare', '--corpus', corpus, '--tokenizer', 'byte', '--out', dataset], {
        env: { DIFFT_FAIL_WRITE: 'EACCES:dataset' },
      }),
      dataset,
      'permission denied (EACCES)',
    );
    assert.deepEqual(readdirSync(dir).sort(), ['corpus.txt', 'run'], 'no half-prepared dataset left');
  });

  it('a real full disk, then a real read-only file system (a tmpfs, where the machine lets the tests mount one)', (t) => {
    const mountPoint = scratch();
    if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=300k', 'tmpfs', mountPoint]).status !== 0)
      return t.skip('cannot mount a tmpfs here (needs root on Linux); the injected failures above stand in');
    const mount = (options: string) => assert.equal(spawnSync('mount', ['-o', options, mountPoint]).status, 0);
    try {
      const out = join(mountPoint, 'run');
      assertRefused(difft(trainArgs(out)), out, 'no space left on device (ENOSPC)');
      assert.deepEqual(
        readdirSync(out).filter((name) => /\.(tmp|old)-\d+$/.test(name)),
        [],
        'the partial checkpoint is removed',
      );
      mount('remount,size=20m');
      const resumed = difft(['train', '--resume', out, '--backend', 'wasm']);
      assert.equal(resumed.status, 0, resumed.stderr);
      assertOneRun(out, 20);
      mount('remount,ro');
      assertRefused(
        difft(['train', '--resume', out, '--set', 'train.steps=30', '--backend', 'wasm']),
        out,
        'read-only file system (EROFS)',
      );
    } finally {
      spawnSync('umount', [mountPoint]);
    }
  });

  it('a directory as config, a file as a config directory, broken --set values: one line each', () => {
    const dir = scratch();
    assertRefused(difft(['train', '--config', dir]), dir, 'is a directory');
    assertRefused(difft(['train', '--set', 'model.layers=[1,']), '--set model.layers', 'cannot read');
    const file = join(dir, 'file');
    writeFileSync(file, 'x');
    assertRefused(difft(trainArgs(join(file, 'run'))), file);
    assertRefused(difft(['eval', file]), file);
    writeFileSync(join(dir, 'metrics.jsonl'), '');
    assertRefused(difft(['train', '--resume', dir, '--backend', 'wasm']), dir);
  });
});

describe('misuse: small things met on the way', () => {
  it('values JSON cannot write are named as they are; a rule names the key the user set', () => {
    assertRefused(difft(['train', '--set', 'train.lr=.inf', '--print-config']), 'train.lr = Infinity', 'finite');
    assertRefused(difft(['train', '--set', 'model.width=.nan', '--print-config']), 'model.width = NaN');
    // diff pairs heads: an odd head count is the heads' fault, not that of the kvHeads that follow them
    const odd = difft(['train', '--set', 'model.heads=1', '--set', 'model.width=8', '--print-config']);
    assertRefused(odd, 'model.heads = 1: must be even');
  });

  it('data.valFraction takes what its schema says (0.5 included) wherever it is given', () => {
    const corpus = join(scratch(), 'corpus.txt');
    writeFileSync(corpus, 'Some words to split.\n\n'.repeat(400));
    const prepare = (fraction: string) =>
      difft([
        'prepare',
        '--corpus',
        corpus,
        '--tokenizer',
        'byte',
        '--val-fraction',
        fraction,
        '--out',
        join(scratch(), 'd'),
      ]);
    const prepared = prepare('0.5');
    assert.equal(prepared.status, 0, prepared.stderr);
    assertRefused(
      difft(['prepare', '--corpus', corpus, '--tokenizer', 'byte', '--val-fraction', '0.6']),
      'at most 0.5',
    );
  });

  it('report on a damaged plan: one line naming the file and what is wrong, never a run outside the directory', () => {
    const dir = scratch();
    const plan = join(dir, 'experiment.yaml');
    const cases: [string, string][] = [
      ['name: x\nvariants: [\n  - {name: a\nseeds: [1', 'not valid YAML'],
      ['baseline: a\nvariants: [{ name: a }]\nseeds: [one]', 'seeds.0 must be integer'],
      [
        'baseline: a\nvariants: [{ name: a }]\nseeds: [1]\nruns: [{ name: ../../x, variant: a, setting: "", seed: 1 }]',
        'runs.0.name must match pattern',
      ],
      ['- just\n- a list', 'the top level must be object'],
    ];
    for (const [text, problem] of cases) {
      writeFileSync(plan, text);
      assertRefused(difft(['report', dir]), plan, problem);
    }
  });

  it('a FIFO given as a corpus is refused, not read forever', () => {
    const fifo = join(scratch(), 'corpus.fifo');
    const made = spawnSync('mkfifo', [fifo]);
    if (made.status !== 0) return; // no mkfifo here: nothing to check
    const result = difft(['prepare', '--corpus', fifo, '--tokenizer', 'byte', '--out', join(scratch(), 'd')], {
      timeout: 20_000,
    });
    assertRefused(result, fifo, 'not a regular file');
  });

  it('a finished shard names a few of the runs still to come and counts the rest', () => {
    const file = join(scratch(), 'experiment.yaml');
    const seeds = Array.from({ length: 20 }, (_, i) => i + 1).join(', ');
    const text = readFileSync(join(REPO_ROOT, 'configs/compare-tiny.yaml'), 'utf8')
      .replace('base: tiny.yaml', `base: ${TINY}`)
      .replace('config:\n', `config:\n  data.dir: ${data}\n  train.backend: wasm\n`)
      .replace('train.steps: 6', 'train.steps: 1')
      .replace(/seeds: .*/, `seeds: [${seeds}]`);
    writeFileSync(file, text);
    const result = difft(['compare', file, '--out', join(scratch(), 'out'), '--shard', '1/40', '--jobs', '1']);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stderr, /39 run\(s\) of other shards not finished yet: (\S+, ){7}\S+ and 31 more\n/);
  });

  it('a working directory deleted under the shell is named as such', () => {
    const gone = join(scratch(), 'gone');
    mkdirSync(gone);
    const script = `cd "${gone}" && rmdir "${gone}" && exec "${process.execPath}" "${DIFFT_BIN}" train --set train.steps=1`;
    const result = spawnSync('sh', ['-c', script], { encoding: 'utf8' });
    assertRefused(result, 'the current directory is gone');
  });

  it('eval --corpus stopped by a signal leaves no tokenised scratch behind', async () => {
    const dir = scratch();
    const run = join(dir, 'run');
    assert.equal(difft(trainArgs(run, '--set', 'train.steps=1')).status, 0);
    const corpus = join(dir, 'big.txt');
    writeFileSync(corpus, 'All work and no play makes a dull model. '.repeat(1_000_000)); // 41 MB
    const temp = join(dir, 'tmp');
    mkdirSync(temp);
    const child = spawn(process.execPath, [DIFFT_BIN, 'eval', run, '--corpus', corpus, '--backend', 'wasm'], {
      env: { ...process.env, TMPDIR: temp },
      stdio: 'ignore',
    });
    const code = await new Promise<number | null>((done) => {
      const timer = setInterval(() => {
        if (readdirSync(temp).some((name) => name.startsWith('difft-eval-'))) {
          clearInterval(timer);
          child.kill('SIGINT');
        }
      }, 5);
      child.on('exit', (status) => {
        clearInterval(timer);
        done(status);
      });
    });
    assert.equal(code, 130);
    assert.deepEqual(readdirSync(temp), []);
  });

  it('generate echoes its prompt only once the checks passed, so that an error is a line of its own', () => {
    const result = difft(['generate', join(scratch(), 'missing'), '--prompt', 'Once upon', '--backend', 'wasm']);
    assertRefused(result, 'checkpoint not found');
    assert.equal(result.stdout, '');
  });
});

describe('misuse: sampling and output streams at their edges', () => {
  it('--top-p 0 and --top-k 1 are greedy; a closed pipe ends generation quietly', () => {
    const run = join(scratch(), 'run');
    assert.equal(difft(trainArgs(run, '--set', 'train.steps=2')).status, 0);
    const generate = (...flags: string[]) =>
      difft(['generate', run, '--prompt', 'The', '-n', '12', '--backend', 'wasm', ...flags]);
    const greedy = generate('--temperature', '0');
    assert.equal(greedy.status, 0, greedy.stderr);
    for (const flags of [
      ['--top-p', '0'],
      ['--top-k', '1'],
      ['--top-p', '0', '--temperature', '5'],
    ]) {
      const sampled = generate(...flags);
      assert.equal(sampled.status, 0, sampled.stderr);
      assert.equal(sampled.stdout, greedy.stdout, flags.join(' '));
    }
    const piped = spawnSync(
      'sh',
      ['-c', `"${process.execPath}" "${DIFFT_BIN}" generate "${run}" -n 4000 --backend wasm | head -c 16`],
      {
        cwd: REPO_ROOT,
        encoding: 'utf8',
        env: { ...process.env, CI: 'true' },
      },
    );
    assert.equal(piped.status, 0);
    assert.doesNotMatch(piped.stderr, /EPIPE|Error/, piped.stderr);
  });
});
