import type { Command } from 'commander';
import { parseShard } from '../compare/experiment.js';
import { presetNames } from '../config/locate.js';
import { compare, report } from '../api/compare.js';
import { percent } from './table.js';
import type { Report } from '../report/report.js';
import { createProgress, type Progress } from './progress.js';
import { UserError } from '../errors.js';
import { listenForStop } from './stop.js';
import { action } from './run.js';
import { COMPARISON_FILES } from '../formats/comparison.js';

/** Names for a line: the first few, then how many more (an experiment may have 20,000 runs). */
function someNames(names: string[], shown = 8): string {
  const more = names.length - shown;
  return more > 0 ? `${names.slice(0, shown).join(', ')} and ${more.toLocaleString('en-US')} more` : names.join(', ');
}

function printReport({ files, summary }: Report): void {
  const lines = summary.comparisons.map((c) => `- ${c.sentence}`);
  const warnings = [...summary.warnings, ...summary.comparisons.flatMap((c) => c.warnings)];
  if (warnings.length) lines.push('', ...warnings.map((w) => `warning: ${w}`));
  if (summary.missing.length) lines.push('', `not finished (${summary.missing.length}): ${someNames(summary.missing)}`);
  if (summary.diverged.length)
    lines.push(
      '',
      `diverged, left out of the statistics (${summary.diverged.length}): ` +
        someNames(summary.diverged.map((d) => `${d.name} at step ${d.step}`)),
    );
  process.stdout.write(
    `${lines.join('\n')}\n\nreport: ${files.find((f) => f.endsWith(COMPARISON_FILES.reportMarkdown))}\n`,
  );
}

const STATUS_NOTES = {
  done: ' (finished before: skipped)',
  diverged: ' (diverged before: skipped)',
  resume: ' (resuming)',
  new: '',
} as const;

export function compareCommand(program: Command): void {
  program
    .command('compare')
    .description('train every variant × seed of an experiment and report whether differential attention helps')
    .argument(
      '<experiment>',
      `experiment YAML (a base config, variants, optional sizes and sweep, seeds), or a shipped one by name: ` +
        `${presetNames()
          .filter((name) => name.startsWith('compare'))
          .join(', ')}`,
    )
    .option('-o, --out <dir>', 'results directory (default: checkpoints/<experiment name>)')
    .option(
      '-j, --jobs <n>',
      'runs trained at once, each in its own process (default: one per CPU core, each with an equal share of the ' +
        'cores; 1 on a GPU)',
    )
    .option(
      '--retrain-changed',
      'runs trained under another configuration than the experiment now gives them (an edited experiment): train ' +
        'them again (without it, such a re-run is refused)',
    )
    .option(
      '--shard <i/n|auto>',
      "train only share i of n of the runs (job arrays across machines, into one shared --out; auto: from Slurm's " +
        "SLURM_ARRAY_TASK_* or a Kubernetes Indexed Job's JOB_COMPLETION_INDEX and JOB_COMPLETIONS); difft report " +
        'merges them',
    )
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  $ difft compare compare-default',
        '  $ difft compare configs/compare-default.yaml --jobs 2',
        '  $ difft compare configs/compare-default.yaml   # again after Ctrl-C: finished runs are skipped',
        '  $ difft compare configs/compare-default.yaml --out /shared/cmp --shard $SLURM_ARRAY_TASK_ID/4',
        '  $ difft compare configs/compare-default.yaml --out /shared/cmp --shard auto   # in a Slurm array or ' +
          'Indexed Job',
      ].join('\n'),
    )
    .action(
      action(async (file: string, flags: { out?: string; jobs?: string; shard?: string; retrainChanged?: boolean }) => {
        const jobs = flags.jobs === undefined ? undefined : Number(flags.jobs);
        if (jobs !== undefined && !(Number.isInteger(jobs) && jobs >= 1))
          throw new UserError(`--jobs ${flags.jobs}: give a whole number ≥ 1`);
        const shard = flags.shard === undefined ? undefined : parseShard(flags.shard);
        const stop = listenForStop(
          '\nstopping after this step and saving a checkpoint (Ctrl-C again to quit at once)\n',
        );
        let bar: Progress | undefined;
        const say = (line: string) => (bar ? bar.log(line) : process.stderr.write(`${line}\n`));
        const result = await compare(file, {
          out: flags.out,
          retrainChanged: flags.retrainChanged,
          jobs,
          shard,
          signal: stop.signal,
          callbacks: {
            onRun: ({ variant, setting, size, seed, status, index, count }) => {
              const at = [size && `size ${size}`, setting].filter(Boolean).join(', ');
              say(`run ${index + 1}/${count}: ${variant}${at ? ` (${at})` : ''}, seed ${seed}${STATUS_NOTES[status]}`);
            },
            onStep: ({ completedSteps, totalSteps, loss }) => {
              bar ??= createProgress({
                label: 'compare',
                total: totalSteps,
                fields: 'loss {loss}',
                plainEverySeconds: 30,
              });
              bar.update(completedSteps, { loss: Number.isNaN(loss) ? '-' : loss.toFixed(4) });
            },
            onEval: ({ name, step, valLoss, accuracy }) => {
              const tasks = Object.entries(accuracy ?? {}).map(
                ([task, value]) => `, ${task} accuracy ${percent(value)}`,
              );
              say(`  ${name}, step ${step}: val loss ${valLoss.toFixed(4)}${tasks.join('')}`);
            },
            onWarning: (message) => say(`warning: ${message}`),
            onEvaluate: ({ name, index, count }) => say(`evaluating ${index + 1}/${count}: ${name}'s final checkpoint`),
          },
        });
        bar?.stop();
        stop.release();
        if (result.interrupted) {
          process.stderr.write(
            `interrupted; finished runs are kept in ${result.dir}. Run the same command again to continue.\n`,
          );
          process.exitCode = stop.exitCode();
          return;
        }
        if (!result.report) {
          const what = shard ? `shard ${shard.index}/${shard.count} finished` : 'finished';
          process.stderr.write(
            `${what}; ${result.unfinished.length} run(s) of other shards not finished yet: ` +
              `${someNames(result.unfinished)}\n`,
          );
          process.stderr.write(`difft report ${result.dir} merges whatever has finished, at any time\n`);
          return;
        }
        printReport(result.report);
      }),
    );
}

export function reportCommand(program: Command): void {
  program
    .command('report')
    .description(
      `write the report of a comparison directory from the runs finished so far (${COMPARISON_FILES.reportMarkdown}, ` +
        `${COMPARISON_FILES.reportHtml}, plots); ` +
        'merges shards',
    )
    .argument('<dir>', 'a results directory of difft compare')
    .addHelpText('after', ['', 'Example:', '  $ difft report checkpoints/compare-default'].join('\n'))
    .action(
      action(async (dir: string) => {
        printReport(await report(dir));
      }),
    );
}
