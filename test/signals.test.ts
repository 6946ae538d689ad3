import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { COMPARISON_FILES } from '../src/formats/comparison.js';
import { DATASET_FILES } from '../src/formats/dataset.js';
import { stepCheckpoints } from '../src/formats/run.js';
import { uniformStream } from '../src/random.js';
import { exitCodeOf, STOP_SIGNALS, type StopSignal } from '../src/signals.js';
import { DIFFT_BIN, REPO_ROOT, difft } from './helpers/cli.js';
import { lossTrail, withoutTimes } from './helpers/outcomes.js';

/**
 * The signal matrix: every long-running command (train, compare, prepare, eval) stopped by each
 * signal a user or a system sends to end a process (Ctrl-C, a kill, a closed terminal) at a seeded
 * random moment of its life (after Node itself has started: before it runs difft's first line no
 * program can listen). Each must exit 128 + the signal's number, leave nothing in the temporary
 * directory, and — resumed or re-run — end exactly as the run that was never interrupted.
 * DIFFT_SIGNAL_SEED picks other moments.
 */
const scratch = () => mkdtempSync(join(tmpdir(), 'difft-signals-'));
const SEED = Number(process.env.DIFFT_SIGNAL_SEED ?? 2026);

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  stdout: string;
}

/** Runs difft with its own TMPDIR; `stopAfterMs` sends `signal` then. */
function run(args: string[], temp: string, stop?: { signal: StopSignal; afterMs: number }): Promise<Outcome> {
  return new Promise((done) => {
    const env = { ...process.env, CI: 'true', TMPDIR: temp };
    const child = spawn(process.execPath, [DIFFT_BIN, ...args], { cwd: REPO_ROOT, env });
    let [stdout, stderr] = ['', ''];
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = stop && setTimeout(() => child.kill(stop.signal), stop.afterMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, stdout, stderr });
    });
  });
}

/** One command of the matrix: how to start it, how to finish it after a stop, and what must come out. */
interface Job {
  name: string;
  start(out: string): string[];
  /** The command that completes the work after a stop (a resume, or the same command again). */
  finish(out: string): string[];
  /** What the finished work must equal, compared with the uninterrupted run's. */
  outcome(out: string, finished: Outcome): unknown;
}

function jobs(data: string, experiment: string, checkpoint: string, corpus: string, text: string): Job[] {
  const train = (out: string) => [
    'train',
    ...['--config', join(REPO_ROOT, 'configs/tiny.yaml'), '--out', out, '--backend', 'wasm'],
    ...['--set', `data.dir=${data}`, '--set', 'output.saveEvery=2', '--set', 'eval.every=4'],
  ];
  const compare = (out: string) => ['compare', experiment, '--out', out];
  const prepare = (out: string) => ['prepare', '--corpus', text, '--tokenizer', 'bpe:300', '--out', out];
  const evaluate = () => ['eval', checkpoint, '--corpus', corpus, '--json', '--backend', 'wasm'];
  return [
    {
      name: 'train',
      start: train,
      // stopped before its first checkpoint, there is nothing to resume: the user starts over
      finish: (out) =>
        stepCheckpoints(out).length > 0
          ? ['train', '--resume', out, '--backend', 'wasm']
          : [...train(out), '--overwrite'],
      outcome: (out) => lossTrail(out),
    },
    {
      name: 'compare',
      start: compare,
      finish: compare,
      outcome: (out) => [
        JSON.parse(readFileSync(join(out, COMPARISON_FILES.reportJson), 'utf8').replaceAll(out, 'OUT'), withoutTimes),
        ...['standard', 'diff'].map((variant) => lossTrail(join(out, `${variant}-seed1`))),
      ],
    },
    {
      name: 'prepare',
      start: prepare,
      finish: prepare,
      outcome: (out) => JSON.parse(readFileSync(join(out, DATASET_FILES.manifest), 'utf8'), withoutTimes),
    },
    {
      name: 'eval',
      start: evaluate,
      finish: evaluate,
      outcome: (_out, finished) => JSON.parse(finished.stdout),
    },
  ];
}

describe('signals', () => {
  it('SIGINT, SIGTERM and SIGHUP at random moments of train, compare, prepare and eval: 128 + signal, no scratch left, and the work ends as if never stopped', async () => {
    const setup = scratch();
    const data = join(setup, 'data');
    assert.equal(difft(['prepare', '--corpus', 'brown', '--tokenizer', 'byte', '--out', data]).status, 0);
    const checkpoint = join(setup, 'run');
    const trained = difft(['train', '--config', 'configs/tiny.yaml', '--out', checkpoint, '--set', `data.dir=${data}`]);
    assert.equal(trained.status, 0, trained.stderr);
    const experiment = join(setup, 'experiment.yaml');
    const tiny = readFileSync(join(REPO_ROOT, 'configs/compare-tiny.yaml'), 'utf8')
      .replace('base: tiny.yaml', `base: ${join(REPO_ROOT, 'configs/tiny.yaml')}`)
      .replace('config:\n', `config:\n  data.dir: ${data}\n  train.backend: wasm\n`)
      .replace('seeds: [1, 2]', 'seeds: [1]');
    writeFileSync(experiment, tiny);
    const corpus = join(setup, 'corpus.txt');
    writeFileSync(corpus, 'All work and no play makes a dull model. '.repeat(1_000));
    // 2 MB of varied words for prepare, whose byte-level BPE trains in its own scratch directory
    const words = ['the', 'model', 'attends', 'to', 'noise', 'and', 'signal', 'differential', 'heads', 'cancel', 'it'];
    const draw = uniformStream(SEED);
    const text = join(setup, 'text.txt');
    const paragraph = () => Array.from({ length: 100 }, () => words[Math.floor(draw() * words.length)]).join(' ');
    writeFileSync(text, Array.from({ length: 3_000 }, paragraph).join('\n\n'));

    // before Node runs difft's first line no program can listen: the moments start after twice the time
    // of a whole `difft --version`, start to exit
    const booted = Date.now();
    assert.equal(difft(['--version']).status, 0);
    const bootMs = 2 * (Date.now() - booted);
    const signals = Object.keys(STOP_SIGNALS) as StopSignal[];
    const seen: string[] = [];
    const trial = async (job: Job, cell: number, expected: unknown, runMs: number, signal: StopSignal) => {
      // each cell of the matrix draws its own moments, so that they do not depend on which trial finishes first
      const random = uniformStream(SEED + 100 * cell + STOP_SIGNALS[signal]);
      for (let attempt = 0; ; attempt++) {
        const [out, temp] = [join(scratch(), 'out'), scratch()];
        const afterMs = Math.floor(bootMs + random() * (runMs - bootMs));
        const stopped = await run(job.start(out), temp, { signal, afterMs });
        const where = `${job.name}, ${signal} after ${afterMs} ms`;
        if (stopped.code === 0) {
          assert.ok(attempt < 4, `${where}: finished before the signal four times`);
          continue; // the drawn moment came after the end: draw another
        }
        assert.equal(stopped.code, exitCodeOf(signal), `${where}: ${stopped.signal ?? ''} ${stopped.stderr}`);
        seen.push(`${where}: exit ${stopped.code}`);
        assert.doesNotMatch(stopped.stderr, /internal error|\n\s+at /, where);
        assert.deepEqual(readdirSync(temp), [], `${where}: the temporary directory is left empty`);
        const finished = await run(job.finish(out), temp);
        assert.equal(finished.code, 0, `${where}, then: ${finished.stderr}`);
        assert.deepEqual(job.outcome(out, finished), expected, `${where}: ends as the uninterrupted run`);
        if (existsSync(out))
          assert.deepEqual(
            readdirSync(out, { recursive: true }).filter((name) => /\.(tmp|old)-\d+/.test(String(name))),
            [],
            `${where}: nothing half-written left`,
          );
        return;
      }
    };
    for (const [cell, job] of jobs(data, experiment, checkpoint, corpus, text).entries()) {
      const [out, temp] = [join(scratch(), 'out'), scratch()];
      const started = Date.now();
      const clean = await run(job.start(out), temp);
      assert.equal(clean.code, 0, `${job.name}: ${clean.stderr}`);
      const expected = job.outcome(out, clean);
      const runMs = Date.now() - started;
      // two at a time: each is one single-threaded process, and the machine has two cores
      await Promise.all([
        (async () => {
          await trial(job, cell, expected, runMs, signals[0]);
          await trial(job, cell, expected, runMs, signals[2]);
        })(),
        trial(job, cell, expected, runMs, signals[1]),
      ]);
    }
    process.stderr.write(`# signal trials:\n${seen.map((line) => `#   ${line}`).join('\n')}\n`);
  });
});
