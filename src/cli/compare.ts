import type { Command } from 'commander';
import { loadExperiment } from '../compare/experiment.js';
import { runExperiment } from '../compare/run.js';
import { writeReport } from '../report/report.js';
import { createProgress, type Progress } from './progress.js';
import { UserError } from '../errors.js';
import { action, EXIT } from './run.js';

function printReport(files: string[], verdicts: string[]): void {
  process.stdout.write(`${verdicts.map((v) => `- ${v}`).join('\n')}\n\nreport: ${files.find((f) => f.endsWith('report.md'))}\n`);
}

export function compareCommand(program: Command): void {
  program
    .command('compare')
    .description('train every variant × seed of an experiment and report whether differential attention helps')
    .argument('<experiment>', 'experiment YAML: a base config, variants and seeds (see configs/compare-default.yaml)')
    .option('-o, --out <dir>', 'results directory (default: checkpoints/<experiment name>)')
    .option('-j, --jobs <n>', 'runs trained at once, each in its own process (default: one per CPU core, each with an equal share of the cores; 1 on a GPU)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ difft compare configs/compare-default.yaml\n  $ difft compare configs/compare-default.yaml --jobs 2\n  $ difft compare configs/compare-default.yaml   # again after Ctrl-C: finished runs are skipped',
    )
    .action(
      action(async (file: string, flags: { out?: string; jobs?: string }) => {
        const jobs = flags.jobs === undefined ? undefined : Number(flags.jobs);
        if (jobs !== undefined && !(Number.isInteger(jobs) && jobs >= 1)) throw new UserError(`--jobs ${flags.jobs}: give a whole number ≥ 1`);
        const experiment = loadExperiment(file);
        let stopRequested = false;
        const requestStop = () => {
          if (stopRequested) process.exit(EXIT.interrupted);
          stopRequested = true;
          process.stderr.write('\nstopping after this step and saving a checkpoint (Ctrl-C again to quit at once)\n');
        };
        process.on('SIGINT', requestStop);
        process.on('SIGTERM', requestStop);
        let bar: Progress | undefined;
        const say = (line: string) => (bar ? bar.log(line) : process.stderr.write(`${line}\n`));
        const result = await runExperiment(experiment, {
          out: flags.out,
          jobs,
          shouldStop: () => stopRequested,
          events: {
            onRun: ({ variant, seed, status, index, count }) =>
              say(`run ${index + 1}/${count}: ${variant}, seed ${seed}${status === 'done' ? ' (finished before: skipped)' : status === 'resume' ? ' (resuming)' : ''}`),
            onStep: ({ completedSteps, totalSteps, loss }) => {
              bar ??= createProgress({ label: 'compare', total: totalSteps, fields: 'loss {loss}', plainEverySeconds: 30 });
              bar.update(completedSteps, { loss: Number.isNaN(loss) ? '-' : loss.toFixed(4) });
            },
            onEval: ({ variant, seed, step, valLoss }) => say(`  ${variant}, seed ${seed}, step ${step}: val loss ${valLoss.toFixed(4)}`),
            onWarning: (message) => say(`warning: ${message}`),
          },
        });
        bar?.stop();
        process.off('SIGINT', requestStop);
        process.off('SIGTERM', requestStop);
        if (result.interrupted) {
          process.stderr.write(`interrupted; finished runs are kept in ${result.dir}. Run the same command again to continue.\n`);
          process.exitCode = EXIT.interrupted;
          return;
        }
        printReport(result.report!.files, result.report!.summary.variants.filter((v) => v.name !== result.report!.summary.baseline).map((v) => v.verdict));
      }),
    );

  program
    .command('report')
    .description('write the report of a comparison directory again (report.md, report.html, plots)')
    .argument('<dir>', 'a results directory of difft compare')
    .addHelpText('after', '\nExample:\n  $ difft report checkpoints/compare-default')
    .action(
      action(async (dir: string) => {
        const report = await writeReport(dir);
        printReport(report.files, report.summary.variants.filter((v) => v.name !== report.summary.baseline).map((v) => v.verdict));
      }),
    );
}
