import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { recoverLeftovers } from '../src/atomic.js';
import { findCheckpoint } from '../src/checkpoint/checkpoint.js';
import { stepCheckpoints, stepDirName } from '../src/formats/run.js';
import { mulberry32 } from '../src/random.js';
import { DIFFT_BIN, REPO_ROOT } from './helpers/cli.js';
import { lossTrail } from './helpers/outcomes.js';

/**
 * The fault test: training processes killed with SIGKILL at random moments — inside checkpoint
 * saves (DIFFT_CRASH_AT: between any two writes, fsyncs and renames) and at random times from
 * outside — each resumed to the end must give exactly the metrics of an uninterrupted run (wasm, single-threaded:
 * bit for bit).
 */
const scratch = () => mkdtempSync(join(tmpdir(), 'difft-crash-'));
const TRIALS_INSIDE_SAVES = 10;
const TRIALS_AT_RANDOM_TIMES = 4; // the signal matrix (test/signals.test.ts) stops runs at random moments too

function trainArgs(dataDir: string, out: string): string[] {
  return [
    DIFFT_BIN,
    'train',
    '--config',
    join(REPO_ROOT, 'configs/tiny.yaml'),
    '--out',
    out,
    '--set',
    `data.dir=${dataDir}`,
    '--set',
    'output.saveEvery=2',
    '--set',
    'eval.every=4',
    '--backend',
    'wasm',
  ];
}

function run(
  args: string[],
  options: { crashAt?: number; killAfterMs?: number } = {},
): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  return new Promise((done) => {
    const env = { ...process.env, CI: 'true', ...(options.crashAt ? { DIFFT_CRASH_AT: String(options.crashAt) } : {}) };
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer =
      options.killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.killAfterMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, stderr });
    });
  });
}

describe('crash safety', () => {
  it(`SIGKILL at ${TRIALS_INSIDE_SAVES + TRIALS_AT_RANDOM_TIMES} random moments: every run resumes and ends exactly as an uninterrupted one`, async () => {
    const dataDir = scratch();
    const reference = join(scratch(), 'reference');
    const started = Date.now();
    const clean = await run(trainArgs(dataDir, reference));
    assert.equal(clean.code, 0, clean.stderr);
    const runMs = Date.now() - started;
    const expected = lossTrail(reference);

    let uniform = 2026;
    const random = () => {
      const { value, next } = mulberry32(uniform);
      uniform = next;
      return value;
    };
    const outcomes = { killed: 0, resumed: 0, restarted: 0, finishedBeforeTheCrashPoint: 0, recovered: 0 };
    /** One trial: false when the drawn point came after the run's end (nothing was killed). */
    const trial = async (index: number, inside: boolean): Promise<boolean> => {
      const out = join(scratch(), 'run');
      // a tiny run passes about 1,000 crash points (about 60 per checkpoint); outside: anywhere in its lifetime
      const first = inside
        ? await run(trainArgs(dataDir, out), { crashAt: 1 + Math.floor(random() * 1000) })
        : await run(trainArgs(dataDir, out), { killAfterMs: Math.floor(random() * runMs) });
      if (first.signal !== 'SIGKILL') {
        assert.equal(first.code, 0, first.stderr);
        return false;
      }
      outcomes.killed++;
      let finalDir = out;
      if (stepCheckpoints(out).length === 0) {
        // killed before the first checkpoint: nothing to resume, start over
        outcomes.restarted++;
        finalDir = join(scratch(), 'run');
        const again = await run(trainArgs(dataDir, finalDir));
        assert.equal(again.code, 0, again.stderr);
      } else {
        const resumed = await run([DIFFT_BIN, 'train', '--resume', out, '--backend', 'wasm']);
        assert.equal(resumed.code, 0, `trial ${index}: ${resumed.stderr}`);
        outcomes.resumed++;
        if (/restored|removed|skipping checkpoint/.test(resumed.stderr)) outcomes.recovered++;
      }
      assert.deepEqual(lossTrail(finalDir), expected, `trial ${index}: metrics differ from the uninterrupted run`);
      assert.deepEqual(
        readdirSync(finalDir).filter((name) => /\.(tmp|old)-\d+$/.test(name)),
        [],
        'no leftovers after the resumed run',
      );
      assert.ok(existsSync(join(finalDir, 'best', 'model.safetensors')), 'best/ is in place');
      assert.equal(findCheckpoint(finalDir, { verify: true }), join(finalDir, 'step-000020'));
      return true;
    };
    // two trials at a time: each process is single-threaded wasm, and the machine has two cores
    let assigned = 0;
    const worker = async () => {
      while (assigned < TRIALS_INSIDE_SAVES + TRIALS_AT_RANDOM_TIMES) {
        const index = ++assigned;
        while (!(await trial(index, index <= TRIALS_INSIDE_SAVES))) outcomes.finishedBeforeTheCrashPoint++;
      }
    };
    await Promise.all([worker(), worker()]);
    process.stderr.write(`# crash trials: ${JSON.stringify(outcomes)}\n`);
    assert.ok(
      outcomes.resumed >= outcomes.killed / 2,
      `most kills leave a checkpoint to resume from: ${JSON.stringify(outcomes)}`,
    );
  });

  it('resume passes over a damaged newest checkpoint, says why, and continues from the one before', async () => {
    const dataDir = scratch();
    const reference = join(scratch(), 'reference');
    assert.equal((await run(trainArgs(dataDir, reference))).code, 0);
    const out = join(scratch(), 'run');
    assert.equal((await run(trainArgs(dataDir, out))).code, 0);
    const newest = join(out, 'step-000020', 'optimizer.safetensors');
    const bytes = readFileSync(newest);
    bytes[bytes.length - 7] ^= 0x10;
    writeFileSync(newest, bytes);
    const resumed = await run([DIFFT_BIN, 'train', '--resume', out, '--backend', 'wasm']);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(
      resumed.stderr,
      /skipping checkpoint \S+step-000020: \S+optimizer\.safetensors: damaged weight file \(checksum mismatch\)/,
    );
    assert.deepEqual(lossTrail(out), lossTrail(reference), 'continued from step 18 to the same end');
  });

  it('step directories order by number whatever their width', () => {
    assert.equal(stepDirName(600), 'step-000600');
    assert.equal(stepDirName(5, 2_000_000), 'step-0000005');
    const dir = scratch();
    for (const name of ['step-999999', 'step-1000000', 'step-000002', 'step-0000010', 'best', 'step-x'])
      mkdirSync(join(dir, name));
    assert.deepEqual(stepCheckpoints(dir), ['step-1000000', 'step-999999', 'step-0000010', 'step-000002']);
  });

  it('killed between the two renames that replace best/, the next resume puts the old best/ back', () => {
    const dir = scratch();
    // the new version's temporary carries a pid above Linux's pid_max: no live process owns it
    for (const [name, content] of [
      ['best', 'old weights'],
      ['best.tmp-4999999', 'new weights'],
    ]) {
      mkdirSync(join(dir, name));
      writeFileSync(join(dir, name, 'model.safetensors'), content);
    }
    // a process that replaces best/ and is killed at its first crash point: right after the old one was renamed aside
    const atomic = pathToFileURL(join(REPO_ROOT, 'dist/src/atomic.js')).href;
    const script = `const { replaceDirectory } = await import('${atomic}'); replaceDirectory('${join(dir, 'best.tmp-4999999')}', '${join(dir, 'best')}');`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, DIFFT_CRASH_AT: '1' },
    });
    assert.equal(child.signal, 'SIGKILL');
    const left = readdirSync(dir).sort();
    assert.ok(
      !left.includes('best') && left.some((name) => /^best\.old-\d+$/.test(name)),
      `caught in the window: ${left}`,
    );
    const actions = recoverLeftovers(dir);
    assert.match(actions.join('; '), /restored best from best\.old-\d+/);
    assert.deepEqual(readdirSync(dir).sort(), ['best'], 'the unfinished new version is removed too');
    assert.equal(readFileSync(join(dir, 'best', 'model.safetensors'), 'utf8'), 'old weights');
  });
});
