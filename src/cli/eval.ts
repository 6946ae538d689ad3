import type { Command } from 'commander';
import type { EngineRequest } from '../backend/engines.js';
import { evaluate } from '../api/evaluate.js';
import type { CheckpointTaskScores } from '../inspect/analyze.js';
import type { EvalResult } from '../eval/evaluate.js';
import { UserError } from '../errors.js';
import { createProgress } from './progress.js';
import { action } from './run.js';
import { percent, table } from './table.js';
import { type TaskScores, WRONG_ANSWERS } from '../measure/task-metrics.js';

interface EvalFlags {
  corpus?: string[];
  maxTokens?: string;
  seed?: string;
  batchSize?: string;
  backend: string;
  json?: boolean;
  task?: string | boolean;
  examples: string;
  byPosition?: boolean;
  seqLen?: string;
  attentionBits?: string;
}

export function nonNegativeInteger(flag: string, value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0) throw new UserError(`${flag} ${value}: must be a whole number ≥ 0`);
  return number;
}

export function positiveInteger(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new UserError(`${flag} ${value}: must be a positive integer`);
  return number;
}

/** The kinds of wrong greedy answers, as percentages of all answers. */
export function wrongShares(scores: TaskScores): string {
  return WRONG_ANSWERS.map((kind) => percent(scores.wrong[kind])).join(' / ');
}

/** Task metrics per checkpoint, then accuracy by the depth of the needle holding the answer. */
function taskTable(results: CheckpointTaskScores[]): string {
  const depths = results[0].scores.byDepth.map((bin) => `depth ${bin.from.toFixed(1)}–${bin.to.toFixed(1)}`);
  return table(
    [
      'checkpoint',
      'task',
      'answers',
      'accuracy',
      'exact match',
      'answer loss',
      'chance (digits / random fact)',
      'wrong: other fact / absent / malformed',
      ...depths,
    ],
    results.map(({ checkpoint, task, length, scores }) => [
      checkpoint,
      `${task}, ${length} tokens`,
      String(scores.answers),
      percent(scores.accuracy),
      percent(scores.exactMatch),
      scores.answerLoss.toFixed(3),
      `${percent(scores.chance.digits)} / ${percent(scores.chance.randomFact)}`,
      wrongShares(scores),
      ...scores.byDepth.map((bin) => (bin.answers ? `${percent(bin.accuracy)} (${bin.answers})` : '-')),
    ]),
  );
}

/** A bit width for low-bit attention: 2 (one level each side of 0) to 24 (past float32's own precision). */
function bitWidth(text: string): number {
  const bits = Number(text);
  if (!Number.isInteger(bits) || bits < 2 || bits > 24)
    throw new UserError(`--attention-bits ${text}: each width must be a whole number of bits from 2 to 24`);
  return bits;
}

/** Loss at each attention bit width and its increase over full precision, a row per checkpoint. */
function bitsTable(results: EvalResult[]): string {
  const widths = results[0].attentionBits?.map((entry) => entry.bits) ?? [];
  return table(
    ['checkpoint', 'attention', 'full precision', ...widths.map((bits) => `${bits}-bit (Δ)`)],
    results.map((r) => [
      r.checkpoint,
      r.attention,
      r.loss.toFixed(4),
      ...(r.attentionBits ?? []).map(
        (entry) =>
          `${entry.loss.toFixed(4)} (${entry.increase >= 0 ? '+' : '−'}${Math.abs(entry.increase).toFixed(4)})`,
      ),
    ]),
  );
}

/** Task accuracy (exact match) at each attention bit width, a row per checkpoint. */
function taskBitsTable(results: CheckpointTaskScores[]): string {
  const widths = results[0].attentionBits?.map((entry) => entry.bits) ?? [];
  return table(
    ['checkpoint', 'task', 'full precision', ...widths.map((bits) => `${bits}-bit`)],
    results.map((r) => [
      r.checkpoint,
      r.task,
      `${percent(r.scores.accuracy)} (${percent(r.scores.exactMatch)})`,
      ...(r.attentionBits ?? []).map(({ scores }) => `${percent(scores.accuracy)} (${percent(scores.exactMatch)})`),
    ]),
  );
}

/** Mean loss per position bin, a row per checkpoint (bins past a shorter context left empty). */
function positionTable(results: EvalResult[]): string {
  const longest = results.reduce((a, b) => ((b.byPosition?.length ?? 0) > (a.byPosition?.length ?? 0) ? b : a));
  const bins = longest.byPosition ?? [];
  const label = (bin: { from: number; to: number }) => (bin.from === bin.to ? `${bin.from}` : `${bin.from}–${bin.to}`);
  return table(
    ['checkpoint', 'trained on', ...bins.map((bin) => `pos ${label(bin)}`)],
    results.map((r) => [
      r.checkpoint,
      String(r.trainedSeqLen),
      ...bins.map((_, i) => r.byPosition?.[i]?.loss.toFixed(4) ?? '-'),
    ]),
  );
}

export function evalCommand(program: Command): void {
  program
    .command('eval')
    .description('loss, perplexity and bits per byte of checkpoints on held-out text')
    .argument('<checkpoint...>', 'checkpoint directories, or run directories (their newest checkpoint)')
    .option(
      '-c, --corpus <source...>',
      "evaluate on these sources instead of the run's validation split (tokenised with the checkpoint's tokenizer)",
    )
    .option('--max-tokens <n>', 'evaluate a fixed, seeded subset of about n tokens (default: every token)')
    .option(
      '--seed <n>',
      "picks that subset, the same for every checkpoint (default: the first checkpoint's eval.seed)",
    )
    .option('--batch-size <n>', "sequences per batch (default: the run's eval.batchSize)")
    .option('--by-position', 'also the mean loss per position bin (1, 2–3, 4–7, …): where in the context it falls')
    .option(
      '--attention-bits <list>',
      'also the loss with the attention logits fake-quantized to each bit width (symmetric absmax per map), ' +
        'e.g. 16,8,6,4',
    )
    .option(
      '--seq-len <n>',
      'windows of n positions, past the trained context if need be (RoPE positions continue); with --by-position ' +
        'it shows where each model breaks down beyond its training length',
    )
    .option(
      '-t, --task [spec]',
      'also score a retrieval task: accuracy, exact match, answer loss, by needle depth (no spec: the task trained ' +
        'on; e.g. needles:needles=6,length=129)',
    )
    .option('-n, --examples <n>', 'task examples scored with --task', '256')
    .option('-b, --backend <name>', 'tfjs engine', 'auto')
    .option('--json', 'print machine-readable results')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  $ difft eval checkpoints/default-20261124-170000',
        '  $ difft eval run-a/step-000600 run-b/step-000600 --corpus notes.txt --json',
        '  $ difft eval run-a run-b --task needles:length=65   # accuracy at another context length',
        '  $ difft eval run-a run-b --by-position --seq-len 256   # loss by position, 4× past a 64-token training',
      ].join('\n'),
    )
    .action(
      action(async (paths: string[], flags: EvalFlags) => {
        const maxTokens = positiveInteger('--max-tokens', flags.maxTokens);
        const batchSize = positiveInteger('--batch-size', flags.batchSize);
        const seed = flags.seed === undefined ? undefined : nonNegativeInteger('--seed', flags.seed);
        const examples = positiveInteger('--examples', flags.examples)!;
        const seqLen = positiveInteger('--seq-len', flags.seqLen);
        const attentionBits = flags.attentionBits?.split(',').map((bits) => bitWidth(bits.trim()));
        if (seqLen === 1) throw new UserError('--seq-len 1: a window needs at least 2 positions');
        const progress: ReturnType<typeof createProgress>[] = [];
        const results = await evaluate(paths, {
          corpus: flags.corpus,
          maxTokens,
          seed,
          batchSize,
          byPosition: flags.byPosition,
          seqLen,
          attentionBits,
          task: flags.task === undefined ? undefined : typeof flags.task === 'string' ? flags.task : true,
          examples,
          backend: flags.backend as EngineRequest,
          onEngine: (engine) => {
            if (!flags.json) process.stderr.write(`${engine.summary}\n`);
          },
          onProgress: ({ index, tokensDone, tokensTotal }) => {
            progress[index - 1]?.stop();
            progress[index] ??= createProgress({ label: 'eval', total: tokensTotal });
            progress[index].update(tokensDone);
          },
          onWarning: (message) => process.stderr.write(`warning: ${message}\n`),
        });
        progress.at(-1)?.stop();
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
          return;
        }
        process.stdout.write(
          table(
            ['checkpoint', 'attention', 'step', 'data', 'tokens', 'fingerprint', 'loss', 'perplexity', 'bits/byte'],
            results.map((r) => [
              r.checkpoint,
              r.attention,
              String(r.step),
              r.data,
              r.tokens.toLocaleString('en-US'),
              r.fingerprint,
              r.loss.toFixed(4),
              r.perplexity.toFixed(3),
              r.bitsPerByte.toFixed(4),
            ]),
          ),
        );
        if (flags.byPosition) process.stdout.write(`\n${positionTable(results)}`);
        if (attentionBits) process.stdout.write(`\n${bitsTable(results)}`);
        if (flags.task !== undefined) process.stdout.write(`\n${taskTable(results.map((r) => r.task!))}`);
        if (flags.task !== undefined && attentionBits)
          process.stdout.write(`\n${taskBitsTable(results.map((r) => r.task!))}`);
      }),
    );
}
