import { Command } from 'commander';
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
import { reportError, setVerbose } from './run.js';
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
    .showHelpAfterError();
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
    process.exitCode = reportError(error);
  }
}
