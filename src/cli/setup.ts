import type { Command } from 'commander';
import { DEFAULT_TENSORFLOW_VERSION, installTensorflow, type TensorflowSource } from '../backend/install-tensorflow.js';
import { UserError } from '../errors.js';
import { action } from './run.js';

const SOURCES: TensorflowSource[] = ['auto', 'npm', 'pip'];

export function setupCommand(program: Command): void {
  program
    .command('setup')
    .argument('<engine>', 'the engine to make available: tensorflow')
    .description(
      'make an optional engine available (the native TensorFlow engine: tfjs-node, or tfjs-node-gpu with --gpu)',
    )
    .option('--gpu', 'the CUDA build (@tensorflow/tfjs-node-gpu) instead of the CPU one')
    .option(
      '--source <how>',
      `where TensorFlow comes from when no file is named: ${SOURCES.join(', ')} (auto: npm, then pip)`,
      'auto',
    )
    .option(
      '--wheel <file>',
      'take libtensorflow from this TensorFlow wheel (tensorflow or tensorflow-cpu ≥ 2.18, Linux x86-64)',
    )
    .option('--libtensorflow <file>', 'take it from this libtensorflow archive (.tar.gz with include/ and lib/)')
    .option('--tf-version <version>', 'the TensorFlow version the pip route fetches', DEFAULT_TENSORFLOW_VERSION)
    .option('--force', 'rebuild even when the engine already loads')
    .addHelpText(
      'after',
      `
Examples:
  $ difft setup tensorflow                          # ordinary install, else a wheel from pip's index
  $ difft setup tensorflow --wheel tensorflow_cpu-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl
  $ difft setup tensorflow --gpu --libtensorflow libtensorflow-gpu-linux-x86_64.tar.gz`,
    )
    .action(
      action(
        (
          engine: string,
          options: {
            gpu?: boolean;
            source: string;
            wheel?: string;
            libtensorflow?: string;
            tfVersion: string;
            force?: boolean;
          },
        ) => {
          if (engine !== 'tensorflow')
            throw new UserError(
              `unknown engine "${engine}" for setup: only tensorflow needs one (wasm and cpu come with npm install)`,
            );
          if (!SOURCES.includes(options.source as TensorflowSource))
            throw new UserError(`--source ${options.source}: use one of ${SOURCES.join(', ')}`);
          const started = Date.now();
          const result = installTensorflow(
            {
              gpu: options.gpu,
              source: options.source as TensorflowSource,
              wheel: options.wheel,
              libtensorflow: options.libtensorflow,
              tensorflowVersion: options.tfVersion,
              force: options.force,
            },
            (line) => process.stdout.write(`setup: ${line} …\n`),
          );
          const seconds = ((Date.now() - started) / 1000).toFixed(0);
          const how =
            result.route === 'already-installed'
              ? 'already installed, nothing to do'
              : `installed via ${result.route} in ${seconds} s`;
          process.stdout.write(
            `setup: tensorflow engine ready: ${result.package}, TensorFlow ${result.tensorflowVersion} (${how})\n`,
          );
        },
      ),
    );
}
