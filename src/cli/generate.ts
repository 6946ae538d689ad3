import type { Command } from 'commander';
import type { EngineRequest } from '../backend/engines.js';
import { generate, generateMany } from '../api/generate.js';
import { readFileSync } from 'node:fs';
import { UserError } from '../errors.js';
import { positiveInteger } from './eval.js';
import { writeStdout } from './output.js';
import { action } from './run.js';

interface GenerateFlags {
  prompt: string;
  promptsFile?: string;
  numSamples: string;
  maxTokens: string;
  temperature: string;
  topK?: string;
  topP?: string;
  seed: string;
  backend: string;
}

function numberIn(flag: string, value: string, low: number, high: number): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number < low || number > high)
    throw new UserError(`${flag} ${value}: must be a number from ${low} to ${high}`);
  return number;
}

/** The lines of a prompts file (a last empty line after the final newline is not a prompt). */
function readPrompts(file: string): string[] {
  const lines = readFileSync(file, 'utf8').split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  if (lines.length === 0) throw new UserError(`--prompts-file ${file}: holds no line to continue`);
  return lines;
}

export function generateCommand(program: Command): void {
  program
    .command('generate')
    .description('sample text from a checkpoint, streaming tokens as they are produced')
    .argument('<checkpoint>', 'a checkpoint directory, or a run directory (its newest checkpoint)')
    .option('-p, --prompt <text>', 'text to continue (empty: start of a document)', '')
    .option(
      '--prompts-file <file>',
      'continue every line of this file instead (one batch; a line may be empty: the start of a document)',
    )
    .option(
      '--num-samples <n>',
      'continuations of each prompt, generated as one batch; sample s is seeded --seed + s',
      '1',
    )
    .option('-n, --max-tokens <n>', 'tokens to generate', '200')
    .option('-t, --temperature <t>', 'from 0 (greedy: the most likely token) to 100', '0.8')
    .option('-k, --top-k <k>', 'sample among the k most likely tokens (1: greedy; more than the vocabulary: all)')
    .option(
      '--top-p <p>',
      'sample from the smallest set of most likely tokens holding probability p, from 0 (the most likely ' +
        'alone) to 1 (all)',
    )
    .option('--seed <n>', 'seed of the sampler', '0')
    .option('-b, --backend <name>', 'tfjs engine', 'auto')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  $ difft generate checkpoints/default-20261124-170000 --prompt "The jury said" --max-tokens 300',
        '  $ difft generate run/step-000600 -p "It was" -t 0   # greedy',
        '  $ difft generate run -p "It was" --num-samples 8 -n 100   # 8 continuations in one batch',
        '  $ difft generate run --prompts-file openings.txt -t 0',
      ].join('\n'),
    )
    .action(
      action(async (path: string, flags: GenerateFlags) => {
        const options = {
          maxTokens: positiveInteger('--max-tokens', flags.maxTokens)!,
          temperature: numberIn('--temperature', flags.temperature, 0, 100),
          topK: positiveInteger('--top-k', flags.topK),
          topP: flags.topP === undefined ? undefined : numberIn('--top-p', flags.topP, 0, 1),
          seed: numberIn('--seed', flags.seed, 0, 2 ** 32 - 1),
        };
        const samples = positiveInteger('--num-samples', flags.numSamples)!;
        if (flags.promptsFile === undefined && samples === 1) {
          // the prompt is echoed once it has passed the checks, so that an error starts a line of its own
          await generate(path, {
            ...options,
            prompt: flags.prompt,
            backend: flags.backend as EngineRequest,
            onReady: () => writeStdout(flags.prompt),
            onText: writeStdout,
          });
          writeStdout('\n');
          return;
        }
        const prompts = flags.promptsFile === undefined ? [flags.prompt] : readPrompts(flags.promptsFile);
        const texts = await generateMany(path, {
          ...options,
          prompts,
          samples,
          backend: flags.backend as EngineRequest,
        });
        texts.forEach((text, row) => {
          const [prompt, sample] = [Math.floor(row / samples), row % samples];
          const seed = options.seed + sample;
          writeStdout(`--- prompt ${prompt + 1}, sample ${sample + 1} (seed ${seed}) ---\n${prompts[prompt]}${text}\n`);
        });
      }),
    );
}
