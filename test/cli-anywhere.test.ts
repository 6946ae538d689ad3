import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readCheckpoint } from '../src/checkpoint/checkpoint.js';
import { loadExperiment } from '../src/compare/experiment.js';
import { difft, REPO_ROOT } from './helpers/cli.js';

/** The CLI typed in directories other than the repository: presets by name, paths relative to their config, resume. */
const scratch = () => mkdtempSync(join(tmpdir(), 'difft-anywhere-'));
const quick = ['--set', 'train.steps=4', '--set', 'eval.every=0', '--set', 'output.saveEvery=0', '--backend', 'wasm'];

describe('the CLI from any directory', () => {
  const home = scratch();
  let runDir = '';

  it('npx --prefix <repo> difft train --config <preset> works from a directory outside the repository', () => {
    const child = spawnSync('npx', ['--prefix', REPO_ROOT, 'difft', 'train', '--config', 'tiny', ...quick], {
      cwd: home,
      encoding: 'utf8',
      env: { ...process.env, CI: 'true' },
    });
    assert.equal(child.status, 0, child.stderr);
    // data and runs land where the user typed the command
    assert.ok(existsSync(join(home, 'data')) && existsSync(join(home, 'checkpoints')));
    const [run] = readdirSync(join(home, 'checkpoints'));
    runDir = join(home, 'checkpoints', run);
    assert.equal(readCheckpoint(runDir).state.step, 4);
  });

  it('--resume from yet another directory reads no other config; train.steps extends the run, the engine may change, nothing else', () => {
    assert.ok(runDir, 'the first run exists');
    const elsewhere = scratch();
    const longer = difft(['train', '--resume', runDir, '--set', 'train.steps=6'], { cwd: elsewhere });
    assert.equal(longer.status, 0, longer.stderr);
    assert.match(longer.stderr, /train\.steps 4 → 6: the learning-rate schedule from step 4 on now decays to step 6/);
    assert.equal(readCheckpoint(runDir).state.step, 6);
    assert.equal(readCheckpoint(runDir).config.run.train.steps, 6);

    const engine = difft(['train', '--resume', runDir, '--set', 'train.steps=7', '--backend', 'cpu'], {
      cwd: elsewhere,
    });
    assert.equal(engine.status, 0, engine.stderr);
    assert.match(engine.stderr, /train\.backend wasm → cpu/);

    const refused = difft(['train', '--resume', runDir, '--set', 'model.layers=3', '--set', 'train.lr=0.1'], {
      cwd: elsewhere,
    });
    assert.equal(refused.status, 2);
    assert.match(
      refused.stderr,
      /^difft: --set: model\.layers, train\.lr cannot change when resuming \(only train\.steps, train\.backend, train\.threads can\)/,
    );
    const withConfig = difft(['train', '--resume', runDir, '--config', 'tiny'], { cwd: elsewhere });
    assert.equal(withConfig.status, 2);
    assert.match(withConfig.stderr, /--config cannot be used with --resume/);
    assert.equal(readCheckpoint(runDir).state.step, 7, 'refused resumes changed nothing');
  });

  it('paths inside a config file are relative to that file, not to where difft runs', () => {
    const project = scratch();
    mkdirSync(join(project, 'text'));
    writeFileSync(join(project, 'text', 'notes.txt'), 'All work and no play makes Jack a dull boy.\n'.repeat(400));
    writeFileSync(
      join(project, 'run.yaml'),
      `name: notes\nmodel: { layers: 1, width: 16, heads: 2, seqLen: 8, ffnMultiple: 8 }\ndata: { corpus: [text/notes.txt], dir: prepared, valFraction: 0.2 }\noutput: { dir: runs }\ntrain: { batchSize: 2 }\n`,
    );
    const result = difft(['train', '--config', join(project, 'run.yaml'), ...quick], { cwd: scratch() });
    assert.equal(result.status, 0, result.stderr);
    assert.ok(existsSync(join(project, 'prepared')), 'data.dir relative to the config file');
    assert.equal(readdirSync(join(project, 'runs')).length, 1, 'output.dir relative to the config file');
    const missing = difft(['train', '--config', 'no-such-preset'], { cwd: scratch() });
    assert.equal(missing.status, 2);
    assert.match(
      missing.stderr,
      /config file not found: no-such-preset \(neither a file nor a shipped preset: baseline, .*default.*tiny\)/,
    );
  });

  it('experiments and their base configs are found by name too', () => {
    const experiment = loadExperiment('compare-tiny');
    assert.equal(experiment.runs.length, 4);
    assert.equal(experiment.runConfig(experiment.runs[0]).model.width, 32, 'its base, tiny.yaml, was read');
    const file = join(scratch(), 'mine.yaml');
    writeFileSync(file, 'name: mine\nbase: tiny\nvariants: [{ name: a }]\nseeds: [1]\n');
    assert.equal(loadExperiment(file).runConfig(loadExperiment(file).runs[0]).model.seqLen, 16, 'base: a preset name');
    assert.ok(readFileSync(join(REPO_ROOT, 'configs', 'compare-tiny.yaml'), 'utf8').includes('base: tiny.yaml'));
  });
});
