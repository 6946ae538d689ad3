import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadExperiment } from '../src/compare/experiment.js';
import { loadConfig } from '../src/config/load.js';
import { REPO_ROOT } from './helpers/cli.js';

/** Every shipped preset loads: run configs resolve, experiment files plan their runs and resolve each. */
describe('the shipped presets', () => {
  const dir = join(REPO_ROOT, 'configs');
  for (const name of readdirSync(dir).filter((file) => file.endsWith('.yaml'))) {
    it(name, () => {
      const file = join(dir, name);
      if (!/^variants:/m.test(readFileSync(file, 'utf8'))) {
        assert.ok(loadConfig(file).train.steps > 0);
        return;
      }
      const experiment = loadExperiment(file);
      assert.ok(experiment.runs.length > 0);
      for (const run of experiment.runs) assert.ok(experiment.runConfig(run).train.steps > 0, run.name);
    });
  }
});
