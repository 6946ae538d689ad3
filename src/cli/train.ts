import type { Command } from 'commander';
import { relative } from 'node:path';
import { configToYaml, loadConfig, resumeConfig } from '../config/load.js';
import { presetNames } from '../config/locate.js';
import { UserError } from '../errors.js';
import type { EngineRequest } from '../backend/engines.js';
import { train } from '../api/train.js';
import { storedRunConfig } from '../train/run-dir.js';
import { availableMemory, describeEstimate, estimateForRun, gibibytes } from '../train/memory.js';
import { percent } from './table.js';
import { createProgress, megabytes, type Progress } from './progress.js';
import { listenForStop } from './stop.js';
import { action } from './run.js';

interface TrainFlags {
  config?: string;
  set: string[];
  printConfig?: boolean;
  resume?: string;
  out?: string;
  backend?: string;
  skipMemoryCheck?: boolean;
  overwrite?: boolean;
  discardLater?: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function trainCommand(program: Command): void {
  program
    .command('train')
    .description('train a model from a config (default: the default preset, diff attention on the Brown corpus)')
    .option(
      '-c, --config <file|preset>',
      `YAML or JSON config, or a shipped preset by name (${presetNames()
        .filter((name) => !name.startsWith('compare'))
        .join(', ')}); default: default`,
    )
    .option('-s, --set <key=value>', 'override a config key (repeatable), e.g. --set model.layers=6', collect, [])
    .option('--print-config', 'print the fully resolved config and exit')
    .option(
      '-r, --resume <dir>',
      'continue a run (its directory or one of its checkpoints) where it stopped, with its own config; --set ' +
        'train.steps=N trains it longer, --backend switches engines',
    )
    .option('-o, --out <dir>', 'run directory, new or empty (default: <output.dir>/<name>-<time>)')
    .option('--overwrite', 'when --out holds an earlier run: remove it and start over (never mixing the two)')
    .option(
      '--discard-later',
      "with --resume from a checkpoint older than the run's newest: remove the later checkpoints and their metrics",
    )
    .option('--skip-memory-check', 'train even when the memory estimate exceeds what this machine has')
    .option(
      '-b, --backend <name>',
      'tfjs engine: auto, tensorflow, webgpu, wasm, cpu (same as --set train.backend=...)',
    )
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  $ difft train',
        '  $ difft train --config baseline --set train.steps=2000',
        '  $ difft train --config my-run.yaml',
        '  $ difft train --resume checkpoints/default-20261124-170000',
        '  $ difft train --resume checkpoints/default-20261124-170000 --set train.steps=2000',
      ].join('\n'),
    )
    .action(
      action(async (flags: TrainFlags) => {
        const overrides = flags.backend ? [...flags.set, `train.backend=${flags.backend}`] : flags.set;
        if (flags.resume && flags.config)
          throw new UserError(
            '--config cannot be used with --resume: a resumed run keeps its own config (change train.steps or the ' +
              'engine with --set / --backend)',
          );
        if (flags.resume && flags.out)
          throw new UserError('--out cannot be used with --resume: the run continues in its own directory');
        if (flags.discardLater && !flags.resume) throw new UserError('--discard-later goes with --resume');
        if (flags.resume && flags.overwrite)
          throw new UserError('--overwrite cannot be used with --resume: a resumed run keeps what it trained');
        if (flags.printConfig) {
          // what training would resolve (src/train/loop.ts), shown without training
          const config = flags.resume
            ? resumeConfig(storedRunConfig(flags.resume), overrides)
            : loadConfig(flags.config ?? 'default', overrides);
          const engine = config.train.backend === 'auto' ? 'tensorflow' : config.train.backend;
          process.stdout.write(
            `# training memory: ${describeEstimate(estimateForRun(config, engine))} on ${engine}, of ` +
              `${gibibytes(availableMemory())} ` +
              `here\n`,
          );
          process.stdout.write(configToYaml(config));
          return;
        }
        const stop = listenForStop(
          '\nstopping after this step and saving a checkpoint (Ctrl-C again to quit at once)\n',
        );

        let prepareBar: Progress | undefined;
        let rate: number | undefined; // tokens/s, smoothed over about ten steps
        let bar: Progress | undefined;
        const say = (line: string) => (bar ? bar.log(line) : process.stderr.write(`${line}\n`));
        const result = await train({
          config: flags.config,
          set: flags.set,
          backend: flags.backend as EngineRequest | undefined,
          out: flags.out,
          resume: flags.resume,
          overwrite: flags.overwrite,
          discardLater: flags.discardLater,
          skipMemoryCheck: flags.skipMemoryCheck,
          signal: stop.signal,
          callbacks: {
            onEngine: (choice) => say(choice.summary),
            onPrepare: ({ bytesDone, bytesTotal }) => {
              prepareBar ??= createProgress({ label: 'prepare', total: bytesTotal, unit: megabytes });
              prepareBar.update(bytesDone);
            },
            onStart: (info) => {
              prepareBar?.stop();
              say(`data: ${relative(process.cwd(), info.datasetDir) || info.datasetDir}`);
              say(
                `model: ${info.attention} attention, ${info.parameters.toLocaleString('en-US')} parameters; ` +
                  `training memory ${info.memory}`,
              );
              say(`${info.resumedFrom ? `resuming from ${info.resumedFrom}` : 'run'}: ${info.runDir}`);
              bar = createProgress({ label: 'train', total: info.steps, fields: 'loss {loss} | {rate} tok/s' });
              bar.update(info.startStep, { loss: '-', rate: '-' });
            },
            onStep: ({ step, loss, tokensPerSecond }) => {
              rate = rate === undefined ? tokensPerSecond : 0.9 * rate + 0.1 * tokensPerSecond;
              bar?.update(step, { loss: loss.toFixed(4), rate: rate.toFixed(0) });
            },
            onEval: (record) => {
              const tasks = Object.entries(record.tasks ?? {}).map(
                ([name, t]) => `; ${name} accuracy ${percent(t.accuracy)}, answer loss ${t.answerLoss.toFixed(3)}`,
              );
              say(
                `step ${record.step}: val loss ${record.valLoss.toFixed(4)}, perplexity ` +
                  `${record.valPerplexity.toFixed(2)}, ` +
                  `${record.valBitsPerByte.toFixed(3)} bits/byte${tasks.join('')}`,
              );
            },
            onWarning: (message) => say(`warning: ${message}`),
          },
        });
        bar?.stop();
        stop.release();
        if (result.interrupted) {
          process.stderr.write(
            `interrupted at step ${result.step}; checkpoint saved. Resume with:\n  npx difft train --resume ` +
              `${result.runDir}\n`,
          );
          process.exitCode = stop.exitCode();
          return;
        }
        const bits = result.valBitsPerByte !== undefined ? `, ${result.valBitsPerByte.toFixed(3)} bits/byte` : '';
        const summary = result.valLoss !== undefined ? `val loss ${result.valLoss.toFixed(4)}${bits}` : '';
        process.stdout.write(`done: ${result.step} steps, ${summary}\ncheckpoint: ${result.checkpoint}\n`);
      }),
    );
}
