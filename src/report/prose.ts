import type { Plan } from '../formats/comparison.js';
import { COMPARISON_FILES } from '../formats/comparison.js';
import type { ComparisonNumbers, Difference } from './comparisons.js';
import type { GroupSummary } from './groups.js';
import { signed } from './numbers.js';
import type { RunSummary } from './runs.js';
import type { Interval } from './stats.js';

/**
 * Every sentence of a comparison's summary, in one place: the verdicts (their words, the paired Δ,
 * what is confounded), and the warnings about seeds, evaluation sets, objectives and selection.
 */
const signedPercent = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(100 * x).toFixed(1)}%`;

/** Unmatched variants further apart than this have their parameter difference named in the verdict. */
const UNMATCHED_TOLERANCE = 0.01;

export function verdictSentence(
  comparison: ComparisonNumbers,
  baseline: string,
  sweeping: boolean,
  matched: boolean,
  size: string,
  /** The task whose answers were every run's objective, if any: the verdict is then on its accuracy. */
  objectiveTask?: string,
): string {
  const { final } = comparison;
  const at = (setting: string) => (sweeping && setting ? ` (at ${setting})` : '');
  const atSize = size ? ` at size ${size}` : '';
  const who = `${comparison.variant}${at(comparison.setting)} vs ${baseline}${at(comparison.baselineSetting)}${atSize}`;
  const ratio = comparison.parameterRatio;
  const confounded = !matched && Math.abs(ratio - 1) > UNMATCHED_TOLERANCE;
  const parameters =
    ratio === 1
      ? `same parameter count${matched ? ' (parameter-matched)' : ''}`
      : `${ratio.toFixed(3)}× the parameters${matched ? ' (parameter-matched)' : ''}${
          confounded
            ? ` — not parameter-matched: the attention and the ${signedPercent(ratio - 1)} parameters are ` +
              `confounded (match: params separates them)`
            : ''
        }`;
  const accuracy = objectiveTask ? comparison.tasks[objectiveTask]?.accuracy : undefined;
  if (objectiveTask && accuracy)
    return `${who}: ${objectiveVerdict(objectiveTask, accuracy, baseline)}; ${parameters}.`;
  if (!final.paired) return `${who}: ${noVerdict(final, LOSS)} — ${parameters}.`;
  return `${who}: ${verdictWords(final, baseline)} — ${pairedDelta(final.paired, LOSS)}; ${parameters}.`;
}

/** How a difference is written: its name, its unit and how a value of it is printed. */
interface Measure {
  name: string;
  unit: string;
  format: (x: number) => string;
}

const LOSS: Measure = { name: 'final validation loss', unit: 'nats', format: (x) => signed(x) };
const ACCURACY: Measure = {
  name: 'accuracy',
  unit: 'points',
  format: (x) => `${x >= 0 ? '+' : '−'}${Math.abs(100 * x).toFixed(1)}`,
};

/** A difference measured on fewer than two seeds: its one Δ, and why there is no verdict. */
function noVerdict(difference: Difference, measure: Measure): string {
  const delta = difference.deltas.length
    ? `Δ ${measure.name} ${measure.format(difference.deltas[0])} ${measure.unit} on one seed`
    : 'no seed finished by both';
  return `${delta}; the seed-to-seed spread is unknown, so no verdict (run at least 3 seeds)`;
}

function verdictWords(difference: Difference, baseline: string): string {
  return difference.verdict === 'no difference detectable'
    ? 'no difference detectable at this budget'
    : `${difference.verdict} than ${baseline}`;
}

/** The mean paired Δ with its 95% interval. */
function pairedDelta(p: Interval, measure: Measure): string {
  const f = measure.format;
  return (
    `Δ ${measure.name} ${f(p.mean)} ${measure.unit}, 95% CI [${f(p.low)}, ${f(p.high)}] ` +
    `(paired over ${p.n} seeds, t(${p.df}) = ${p.critical.toFixed(3)})`
  );
}

/** The verdict on the accuracy of the task a run was trained to answer, in percentage points. */
function objectiveVerdict(task: string, accuracy: Difference, baseline: string): string {
  const what = `on its objective, the answers of ${task} (the validation loss scores text it was not trained on)`;
  if (!accuracy.paired) return `${what}: ${noVerdict(accuracy, ACCURACY)}`;
  return `${verdictWords(accuracy, baseline)} ${what} — ${pairedDelta(accuracy.paired, ACCURACY)}`;
}

/** The objective task every run shares, when all of them were trained on a task's answers. */
function sharedObjective(runs: RunSummary[]): string | undefined {
  const tasks = new Set(runs.map((run) => run.objectiveTask));
  return tasks.size === 1 ? [...tasks][0] : undefined;
}

/** The verdict sentence and the warnings of one variant's comparison with the baseline. */
export function comparisonProse(
  numbers: ComparisonNumbers,
  variant: GroupSummary,
  baseline: GroupSummary,
  plan: Pick<Plan, 'settings' | 'match'>,
): { sentence: string; warnings: string[] } {
  const pairedSeeds = numbers.final.seeds;
  const warnings: string[] = [];
  if (pairedSeeds.length < 3)
    warnings.push(
      `only ${pairedSeeds.length} seed(s) finished by both ${variant.variant} and ${baseline.variant}: with fewer ` +
        `than 3 the interval is very wide (t(1) = 12.71) or missing; run more seeds`,
    );
  const fingerprints = new Set([...variant.runs, ...baseline.runs].map((run) => run.evalFingerprint ?? 'unknown'));
  if (fingerprints.size > 1)
    warnings.push(
      `${variant.variant} and ${baseline.variant} were scored on different evaluation tokens (fingerprints ` +
        `${[...fingerprints].join(', ')}): the differences mix model and sample`,
    );
  const objective = sharedObjective([...variant.runs, ...baseline.runs]);
  const sweeping = plan.settings.length > 1;
  const matched = plan.match === 'params';
  const sentence = verdictSentence(numbers, baseline.variant, sweeping, matched, variant.size, objective);
  return { sentence, warnings };
}

/** The warnings about the comparison as a whole. */
export function summaryWarnings(
  plan: Plan,
  finished: RunSummary[],
  evalSets: number,
  scalingWarnings: string[],
): string[] {
  const warnings: string[] = [];
  if (evalSets > 1)
    warnings.push(
      `the runs were scored on ${evalSets} different evaluation sets (see evalSets): their losses are not ` +
        `measured on the same tokens`,
    );
  warnings.push(...scalingWarnings);
  const textWeights = [...new Set(finished.map((run) => run.textWeight))].filter((w) => w < 1);
  if (textWeights.length)
    warnings.push(
      `the runs trained with train.textWeight = ${textWeights.join(', ')}: their objective weighed the text outside ` +
        `the answers at that, while the validation loss below is the plain loss over every token — at 0 it measures ` +
        `text the runs were not trained on: the verdicts are on the accuracy of the task they were trained to ` +
        `answer, and the Retrieval section has the rest`,
    );
  if (plan.fingerprints && !plan.configFingerprints)
    warnings.push(
      `${COMPARISON_FILES.plan} was written by an earlier difft, whose configuration fingerprints later ` +
        `versions cannot reproduce: the runs were not checked against the plan (difft compare on ` +
        `${plan.source || 'the experiment'} checks them key by key and records new ones)`,
    );
  if (plan.settings.length > 1) {
    warnings.push(
      'each variant is compared at its best setting, chosen on the same validation tokens that score it: the ' +
        'selection flatters every variant alike, but slightly',
    );
  }
  return warnings;
}

/** A variant's mean final loss at one model size. */
interface SizePoint {
  size: string;
  mean: number;
}

/** A size curve that does not fall where the parameters grow: that stretch says nothing about size. */
export function curveTurnWarning(variant: string, from: SizePoint, to: SizePoint): string {
  return (
    `${variant}'s final loss does not fall from ${from.size} to ${to.size} (${from.mean.toFixed(4)} → ` +
    `${to.mean.toFixed(4)}) although its parameters grow: the larger size is undertrained at this budget (or ` +
    'its learning rate does not suit it), so the curve there says nothing about size'
  );
}
