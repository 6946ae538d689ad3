import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseShard } from '../src/compare/experiment.js';

/** `--shard auto` from the scheduler's environment, against shares worked out by hand. */
describe('--shard auto', () => {
  it('Slurm arrays: position among the tasks, whatever the first id and the step', () => {
    // --array=0-3: task 2 is the third of four
    const plain = { SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_MAX: '3' };
    assert.deepEqual(parseShard('auto', plain), { index: 3, count: 4 });
    // --array=1-9:4 has tasks 1, 5, 9: task 5 is the second of three
    const stepped = {
      SLURM_ARRAY_TASK_ID: '5',
      SLURM_ARRAY_TASK_MIN: '1',
      SLURM_ARRAY_TASK_MAX: '9',
      SLURM_ARRAY_TASK_STEP: '4',
    };
    assert.deepEqual(parseShard('auto', stepped), { index: 2, count: 3 });
    assert.throws(() => parseShard('auto', { SLURM_ARRAY_TASK_ID: '2' }), /SLURM_ARRAY_TASK_MIN\/MAX\/STEP/);
  });

  it('Kubernetes Indexed Jobs: JOB_COMPLETION_INDEX is 0-based, JOB_COMPLETIONS set by the Job', () => {
    assert.deepEqual(parseShard('auto', { JOB_COMPLETION_INDEX: '0', JOB_COMPLETIONS: '4' }), { index: 1, count: 4 });
    assert.deepEqual(parseShard('auto', { JOB_COMPLETION_INDEX: '3', JOB_COMPLETIONS: '4' }), { index: 4, count: 4 });
    assert.throws(() => parseShard('auto', { JOB_COMPLETION_INDEX: '1' }), /needs JOB_COMPLETIONS/);
    assert.throws(
      () => parseShard('auto', { JOB_COMPLETION_INDEX: '4', JOB_COMPLETIONS: '4' }),
      /needs JOB_COMPLETIONS/,
    );
  });

  it('no scheduler: refused in one line; i/n still parses', () => {
    assert.throws(() => parseShard('auto', {}), /--shard auto: no job array here .*give --shard i\/n/);
    assert.deepEqual(parseShard('2/5', {}), { index: 2, count: 5 });
  });
});
