import { Command, CommanderError } from 'commander';
import { createRequire } from 'node:module';
import { exitQuietlyOnClosedOutput } from './output.js';
import { EXIT, reportError, setVerbose } from './run.js';
import { exitOnStopSignals } from '../signals.js';

const { version } = createRequire(import.meta.url)('../../../package.json') as { version: string };

type Register = (program: Command) => void;

/**
 * Each command's module, in the order `--help` lists them, loaded only when needed: a command's
 * imports (the engines, the report's charts) cost a second or more, which `difft info` or a usage
 * mistake should not pay for every other command.
 */
const COMMANDS: Record<string, () => Promise<Register>> = {
  train: async () => (await import('./train.js')).trainCommand,
  compare: async () => (await import('./compare.js')).compareCommand,
  report: async () => (await import('./compare.js')).reportCommand,
  eval: async () => (await import('./eval.js')).evalCommand,
  analyze: async () => (await import('./analyze.js')).analyzeCommand,
  export: async () => (await import('./export.js')).exportCommand,
  import: async () => (await import('./export.js')).importCommand,
  generate: async () => (await import('./generate.js')).generateCommand,
  info: async () => (await import('./info.js')).infoCommand,
  prepare: async () => (await import('./prepare.js')).prepareCommand,
  backends: async () => (await import('./backends.js')).backendsCommand,
  setup: async () => (await import('./setup.js')).setupCommand,
};

/**
 * The commands to register for `argv`: the one it names (its first word after the options), none for
 * `--version`, and all of them where the help, or a mistake's suggestion, lists them.
 */
function commandsFor(argv: string[]): string[] {
  const args = argv.slice(2);
  const word = args.find((arg) => !arg.startsWith('-'));
  if (word !== undefined && Object.hasOwn(COMMANDS, word)) return [word];
  if (word === undefined && args.some((arg) => arg === '--version' || arg === '-V')) return [];
  return Object.keys(COMMANDS);
}

export async function main(argv: string[]): Promise<void> {
  exitOnStopSignals();
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
  for (const name of commandsFor(argv)) (await COMMANDS[name]())(program);
  try {
    await program.parseAsync(argv);
  } catch (error) {
    // commander has already said what was wrong; --help and --version end here too, with 0
    if (error instanceof CommanderError) process.exitCode = error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    else process.exitCode = reportError(error);
  }
}
