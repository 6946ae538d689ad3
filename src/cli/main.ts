import { Command, CommanderError } from 'commander';
import { createRequire } from 'node:module';
import { analyzeCommand } from './analyze.js';
import { backendsCommand } from './backends.js';
import { prepareCommand } from './prepare.js';
import { trainCommand } from './train.js';
import { compareCommand } from './compare.js';
import { evalCommand } from './eval.js';
import { exportCommand, importCommand } from './export.js';
import { generateCommand } from './generate.js';
import { infoCommand } from './info.js';
import { exitQuietlyOnClosedOutput } from './output.js';
import { EXIT, reportError, setVerbose } from './run.js';
import { setupCommand } from './setup.js';

const { version } = createRequire(import.meta.url)('../../../package.json') as { version: string };

export async function main(argv: string[]): Promise<void> {
  exitQuietlyOnClosedOutput();
  const program = new Command();
  program
    .name('difft')
    .description('Train and compare Differential Transformer language models on TensorFlow.js')
    .version(version)
    .option('--verbose', 'show stack traces for errors')
    .hook('preAction', (command) => setVerbose(Boolean(command.opts().verbose)))
    // a mistake in the command line is a user's mistake like any other: one line, exit 2
    .configureOutput({
      outputError: (text, write) => write(`difft: ${text.trim().replace(/^error: /, '')} (see --help)\n`),
    })
    .exitOverride();
  trainCommand(program);
  compareCommand(program);
  evalCommand(program);
  analyzeCommand(program);
  exportCommand(program);
  importCommand(program);
  generateCommand(program);
  infoCommand(program);
  prepareCommand(program);
  backendsCommand(program);
  setupCommand(program);
  try {
    await program.parseAsync(argv);
  } catch (error) {
    // commander has already said what was wrong; --help and --version end here too, with 0
    if (error instanceof CommanderError) process.exitCode = error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    else process.exitCode = reportError(error);
  }
}
