import type { PositionBin } from '../eval/positions.js';
import type { RunEvaluation } from '../eval/run-evaluation.js';
import { type Difference, difference } from './comparisons.js';
import { comparedGroups, type GroupSummary } from './groups.js';
import { pm, signed } from './numbers.js';
import type { Block } from './render.js';
import type { RunSummary } from './runs.js';
import { spread } from './stats.js';
import type { ComparisonSummary } from './summary.js';

/**
 * The report's sections on the final checkpoints (the experiment's `eval` key): loss by position at
 * the trained context and past it, and the loss (and a task run's accuracy) with low-bit attention
 * logits. Every number is mean ± std over seeds, each variant's paired Δ to the baseline with its 95%
 * t interval, as for the validation loss.
 */
export function evaluationBlocks(summary: ComparisonSummary): Block[] {
  const groups = comparedGroups(summary).filter((g) => g.runs.some((run) => run.evaluation));
  const baseline = groups.find((g) => g.variant === summary.baseline);
  if (!baseline) return [];
  const request = baseline.runs.find((run) => run.evaluation)!.evaluation!.request;
  return [
    ...(request.byPosition || request.seqLen.length ? positionBlocks(summary, groups, baseline) : []),
    ...(request.attentionBits.length ? lowBitBlocks(summary, groups, baseline) : []),
  ];
}

const binLabel = (bin: PositionBin) => (bin.from === bin.to ? String(bin.from) : `${bin.from}–${bin.to}`);
const intervalText = (d: Difference) =>
  d.paired ? `Δ ${signed(d.paired.mean)} [${signed(d.paired.low)}, ${signed(d.paired.high)}]` : 'Δ -';

/** A measure of each run's evaluation, undefined where the run has none. */
type Pick = (evaluation: RunEvaluation) => number | undefined;
const ofRun = (pick: Pick) => (run: RunSummary) => (run.evaluation ? pick(run.evaluation) : undefined);

/** A group's mean ± std of a measure, with its paired Δ to the baseline unless it is the baseline. */
function cell(group: GroupSummary, baseline: GroupSummary, pick: Pick, better: 'lower' | 'higher' = 'lower'): string {
  const values = group.runs.flatMap((run) => ofRun(pick)(run) ?? []);
  if (values.length === 0) return '-';
  const text = pm(spread(values));
  return group === baseline ? text : `${text} (${intervalText(difference(group, baseline, ofRun(pick), better))})`;
}

function positionBlocks(summary: ComparisonSummary, groups: GroupSummary[], baseline: GroupSummary): Block[] {
  const sample = baseline.runs.find((run) => run.evaluation)!.evaluation!;
  const trained = sample.contexts[0].trainedSeqLen;
  const out: Block[] = [
    { kind: 'heading', text: 'Loss by position' },
    {
      kind: 'paragraph',
      text:
        'Mean loss (nats) of the targets at each position bin of the evaluation windows, on the final checkpoints: ' +
        'position p is the p-th token predicted, from p tokens of context; bins double in width. Every run is ' +
        "scored on the same windows. Mean ± std over seeds; each variant's paired Δ to " +
        `${summary.baseline} with its 95% t interval (lower is better). Trained context: ${trained} tokens` +
        (sample.contexts.length > 1
          ? `; the longer contexts show where each attention breaks down past it (RoPE positions continue).`
          : '.'),
    },
  ];
  sample.contexts.forEach((context, index) => {
    const bins = context.byPosition ?? [];
    if (bins.length === 0) return;
    out.push({
      kind: 'table',
      header: [
        `positions (context ${context.seqLen}${context.seqLen > trained ? ', past the trained' : ''})`,
        ...groups.map((g) => g.variant),
      ],
      rows: bins.map((bin, b) => [
        `${binLabel(bin)}${bin.from > trained ? ' (untrained)' : ''}`,
        ...groups.map((g) => cell(g, baseline, (e) => e.contexts[index]?.byPosition?.[b]?.loss)),
      ]),
    });
  });
  return out;
}

function lowBitBlocks(summary: ComparisonSummary, groups: GroupSummary[], baseline: GroupSummary): Block[] {
  const widths = baseline.runs.find((run) => run.evaluation)!.evaluation!.request.attentionBits;
  const increase =
    (bits: number): Pick =>
    (e) =>
      e.contexts[0].attentionBits?.find((entry) => entry.bits === bits)?.increase;
  const out: Block[] = [
    { kind: 'heading', text: 'Low-bit attention' },
    {
      kind: 'paragraph',
      text:
        'The final checkpoints with their attention logits fake-quantized before the softmax (symmetric, one scale ' +
        'per attention map: its largest visible |logit| maps to the top level; every map of diff and diff2), on ' +
        "the trained context's windows. The loss at full precision, then its increase at each width: mean ± std " +
        `over seeds, each variant's paired Δ in that increase to ${summary.baseline} with its 95% t interval ` +
        "(lower is better: the paper's Figure 8 has DIFF losing less than the Transformer at 4 bits).",
    },
    {
      kind: 'table',
      header: ['variant', 'full precision', ...widths.map((bits) => `increase at ${bits} bits`)],
      rows: groups.map((g) => [
        g.variant,
        cell(g, baseline, (e) => e.contexts[0].loss),
        ...widths.map((bits) => cell(g, baseline, increase(bits))),
      ]),
    },
  ];
  const task = baseline.runs.find((run) => run.evaluation?.task)?.evaluation?.task;
  if (task) {
    const accuracy =
      (bits: number | undefined): Pick =>
      (e) =>
        bits === undefined
          ? e.task?.scores.accuracy
          : e.task?.attentionBits.find((x) => x.bits === bits)?.scores.accuracy;
    out.push(
      {
        kind: 'paragraph',
        text:
          `Accuracy on the trained task (${task.name}, its probe examples) at each attention width: mean ± std over ` +
          `seeds, paired Δ to ${summary.baseline} (higher is better).`,
      },
      {
        kind: 'table',
        header: ['variant', 'full precision', ...widths.map((bits) => `${bits} bits`)],
        rows: groups.map((g) => [
          g.variant,
          cell(g, baseline, accuracy(undefined), 'higher'),
          ...widths.map((bits) => cell(g, baseline, accuracy(bits), 'higher')),
        ]),
      },
    );
  }
  return out;
}
