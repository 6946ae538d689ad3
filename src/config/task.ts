import { schemaCheck } from '../schema.js';
import { UserError } from '../errors.js';

/**
 * The knobs of a built-in retrieval task. The same object is `data.task` in a run config (train on
 * the task) and the `--task` of `difft eval` / `difft analyze` (probe any checkpoint with it).
 */
export const TASK_KINDS = ['needles', 'mqar', 'icl'] as const;
export type TaskKind = (typeof TASK_KINDS)[number];

export interface TaskSpec {
  /**
   * needles: facts hidden at random depths in distractor text; mqar: all key→value pairs together, then the queries;
   * icl: demonstrations of a classification rule drawn afresh per example, then new inputs to classify by it.
   */
  kind: TaskKind;
  /** Tokens per example; 0: the model's context length + 1 (one training window per example). */
  length: number;
  /**
   * Shortest training example (0: every example is `length` tokens): training windows are then packed
   * with examples of lengths drawn log-uniformly from lengthMin..length. Validation examples stay whole.
   */
  lengthMin: number;
  /**
   * Key→value facts per example (the needles; mqar's pairs; icl's demonstrations); the most, when `needlesMin` sets
   * a range.
   */
  needles: number;
  /** Fewest facts per example: each draws its count uniformly from needlesMin..needles (0: always `needles`). */
  needlesMin: number;
  /** Keys asked about at the end of each example, each followed by its answer. */
  queries: number;
  /** What fills the rest of the context: text from data.corpus, or random letter words. */
  distractor: 'text' | 'random';
  /** Digits of each value, i.e. of each answer. */
  answerLength: number;
  /** Upper-case letters of each key. */
  keyLength: number;
  /**
   * `random` keys; `prefix`: one shared prefix and a distinct last letter each (the paper's look-alike facts:
   * one format, keys told apart by what differs); `lookalike`: one base key with one letter changed each.
   */
  keys: 'random' | 'prefix' | 'lookalike';
  /** icl: the classes of its rule, each with a label of answerLength digits and letters of its own. */
  classes: number;
  /** icl: the demonstrations in a random order, or grouped by class (the paper's Figure 7). */
  order: 'random' | 'grouped';
  /** icl: which arrangement of the same demonstrations (one seeded order each), for order robustness. */
  permutation: number;
  /** Examples in the training split (a task dataset). */
  examples: number;
  /** Examples in the validation split; the first `eval.probes` of them are the probe set. */
  valExamples: number;
  seed: number;
}

export const TASK_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    kind: {
      enum: ['none', ...TASK_KINDS],
      default: 'none',
      description:
        'train on a built-in task instead of plain text: needles | mqar | icl (in-context classification; none: ' +
        'plain text)',
    },
    length: {
      type: 'integer',
      minimum: 0,
      default: 0,
      description: 'tokens per example (0: model.seqLen + 1, one training window per example)',
    },
    lengthMin: {
      type: 'integer',
      minimum: 0,
      default: 0,
      description:
        'shortest training example: windows are packed with examples of lengthMin..length tokens (0: one per window)',
    },
    needles: {
      type: 'integer',
      minimum: 1,
      default: 4,
      description: "key→value facts per example (the most; icl's demonstrations)",
    },
    needlesMin: {
      type: 'integer',
      minimum: 0,
      default: 0,
      description: 'fewest facts per example: each draws its count from needlesMin..needles (0: always needles)',
    },
    queries: {
      type: 'integer',
      minimum: 1,
      default: 1,
      description: 'keys asked about at the end of each example (at most task.needles)',
    },
    distractor: {
      enum: ['text', 'random'],
      default: 'text',
      description: 'the rest of the context: text from data.corpus, or random letter words',
    },
    answerLength: {
      type: 'integer',
      minimum: 1,
      maximum: 9,
      default: 2,
      description: 'digits of each value (the answer)',
    },
    keyLength: { type: 'integer', minimum: 1, maximum: 8, default: 3, description: 'upper-case letters of each key' },
    keys: {
      enum: ['random', 'prefix', 'lookalike'],
      default: 'random',
      description:
        'random keys; prefix: one shared prefix, a distinct last letter each; lookalike: a base key with one ' +
        'letter changed each (hard distractors)',
    },
    classes: {
      type: 'integer',
      minimum: 2,
      maximum: 10,
      default: 4,
      description: "icl: classes of each example's rule (chance: one over the classes shown)",
    },
    order: {
      enum: ['random', 'grouped'],
      default: 'random',
      description: 'icl: the demonstrations in a random order, or grouped by class',
    },
    permutation: {
      type: 'integer',
      minimum: 0,
      default: 0,
      description: 'icl: which seeded arrangement of the same demonstrations (order robustness)',
    },
    examples: {
      type: 'integer',
      minimum: 1,
      default: 20000,
      description: 'examples in the training split (windows of packed examples, with lengthMin)',
    },
    valExamples: { type: 'integer', minimum: 1, default: 512, description: 'examples in the validation split' },
    seed: { type: 'integer', minimum: 0, default: 0, description: 'fixes every example (independent of train.seed)' },
  },
} as const;

/** `data.task` as configs hold it: kind `none` means plain text. */
export type TaskConfig = Omit<TaskSpec, 'kind'> & { kind: TaskKind | 'none' };

const validateTask = schemaCheck(TASK_SCHEMA, { useDefaults: true });

export function taskOf(config: TaskConfig | undefined): TaskSpec | undefined {
  return config && config.kind !== 'none' ? (config as TaskSpec) : undefined;
}

/** Example length in tokens: the spec's, or one training window of the model. */
export function exampleLength(spec: TaskSpec, seqLen: number): number {
  return spec.length || seqLen + 1;
}

/**
 * A task named on the command line: `needles` or `needles:needles=6,queries=2,length=129`.
 * Values are checked by the schema, so errors name the key and what it accepts.
 */
export function parseTaskSpec(text: string): TaskSpec {
  const [kind, rest = ''] = text.split(/:(.*)/s, 2);
  if (!(TASK_KINDS as readonly string[]).includes(kind))
    throw new UserError(
      `--task ${text}: unknown task "${kind}"; use ${TASK_KINDS.join(' or ')}, optionally with settings, e.g. ` +
        `needles:needles=6,length=129`,
    );
  const spec: Record<string, unknown> = { kind };
  for (const assignment of rest.split(',').filter((part) => part.trim())) {
    const [key, value] = assignment.split('=').map((part) => part.trim());
    const node = (TASK_SCHEMA.properties as Record<string, { enum?: readonly string[] }>)[key];
    if (!node || key === 'kind' || value === undefined) {
      throw new UserError(
        `--task ${text}: "${assignment}" is not key=value with a known key (${Object.keys(TASK_SCHEMA.properties)
          .filter((k) => k !== 'kind')
          .join(', ')})`,
      );
    }
    spec[key] = node.enum ? value : Number(value);
  }
  return checkTaskSpec(spec, `--task ${text}`);
}

/** Fills defaults and validates a task spec; `where` names its origin in errors. */
export function checkTaskSpec(raw: Record<string, unknown>, where: string): TaskSpec {
  const spec = structuredClone(raw);
  if (!validateTask(spec)) {
    const error = validateTask.errors![0];
    const key =
      error.instancePath.replace(/^\//, '') ||
      (error.params as { additionalProperty?: string }).additionalProperty ||
      '';
    throw new UserError(`${where}: task.${key} ${error.message ?? 'is not allowed'}`);
  }
  const task = spec as unknown as TaskSpec;
  if (task.needlesMin > task.needles)
    throw new UserError(`${where}: task.needlesMin = ${task.needlesMin} exceeds task.needles = ${task.needles}`);
  // a retrieval query asks for a fact of its own; icl's queries are new inputs, as many as asked
  if (task.kind !== 'icl' && task.queries > task.needles)
    throw new UserError(
      `${where}: task.queries = ${task.queries} exceeds task.needles = ${task.needles} (each query asks for a ` +
        `different fact)`,
    );
  checkKindKeys(task, where);
  return task;
}

/** Letters each class of an icl rule owns (disjoint sets; a class's inputs are words of its letters alone). */
export function lettersPerClass(classes: number): number {
  return Math.min(3, Math.floor(26 / classes));
}

/** The keys of one kind set off their default on another are refused: they would change nothing but the name. */
function checkKindKeys(task: TaskSpec, where: string): void {
  const iclKeys = { classes: 4, order: 'random', permutation: 0 } as const;
  if (task.kind !== 'icl') {
    for (const [key, value] of Object.entries(iclKeys))
      if (task[key as keyof typeof iclKeys] !== value)
        throw new UserError(`${where}: task.${key} applies to task.kind = icl only, not ${task.kind}`);
    return;
  }
  if (task.keys !== 'random')
    throw new UserError(`${where}: task.keys = ${task.keys} applies to needles and mqar; icl draws its inputs`);
  // a query is a new input with a letter its class's demonstrations showed: with one letter shown, the
  // inputs holding it number k^L − (k − 1)^L, and they must outnumber the demonstrations
  const letters = lettersPerClass(task.classes);
  const words = letters ** task.keyLength - (letters - 1) ** task.keyLength;
  if (words <= task.needles)
    throw new UserError(
      `${where}: task.keyLength = ${task.keyLength} makes ${words} inputs per class that share a given letter ` +
        `(${letters} letters each), too few for ${task.needles} demonstrations and a query that repeats none: ` +
        'raise task.keyLength or lower task.classes or task.needles',
    );
}

/** A spec (or part of one) as a string that two equal specs share, whatever order their keys were written in. */
export function specKey(spec: Partial<TaskSpec>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(spec).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
}

/** Whether examples draw their number of facts from a range. */
export function variesNeedles(spec: TaskSpec): boolean {
  return spec.needlesMin > 0 && spec.needlesMin < spec.needles;
}

/** A short label: needles-4x1 (four facts, one query); needles-1to8x2-lookalike (1 to 8 facts, look-alike keys). */
export function taskLabel(spec: TaskSpec): string {
  const needles = variesNeedles(spec) ? `${spec.needlesMin}to${spec.needles}` : String(spec.needles);
  if (spec.kind === 'icl')
    return (
      `icl-${spec.classes}c-${needles}x${spec.queries}${spec.order === 'grouped' ? '-grouped' : ''}` +
      (spec.permutation ? `-p${spec.permutation}` : '')
    );
  return `${spec.kind}-${needles}x${spec.queries}${spec.keys === 'random' ? '' : `-${spec.keys}`}`;
}
