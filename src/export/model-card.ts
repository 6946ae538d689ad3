import { basename, dirname } from 'node:path';
import type { LoadedCheckpoint } from '../checkpoint/checkpoint.js';
import { type Attention, attentionLabel, ffnHiddenWidth, headDim, switchesOff } from '../config/model.js';
import { taskLabel, taskOf } from '../config/task.js';
import { runFile } from '../formats/run.js';
import { countParameters } from '../model/parameters.js';
import { readMetrics } from '../train/metrics.js';

/**
 * The model card of an export: `README.md` as the Hugging Face Hub reads it — YAML front matter
 * (library, pipeline tag, tags) and then what a reader of a model repository looks for: the
 * architecture and its switches, how it was trained and on what, its validation loss and bits per
 * byte, and how to load it.
 */
export interface CardFacts {
  /** The transformers class the export loads as. */
  architecture: string;
  /** Whether loading needs `trust_remote_code=True` (a modeling file of its own). */
  remoteCode: boolean;
}

/** The evaluation at the checkpoint's step, from its run's metrics (absent when the run directory is gone). */
function evaluationAt(checkpoint: LoadedCheckpoint) {
  const runDir = dirname(checkpoint.dir);
  const records = readMetrics(runFile(runDir, 'metrics'));
  return records.flatMap((r) => (r.type === 'eval' && r.step === checkpoint.state.step ? [r] : [])).at(-1);
}

const row = (key: string, value: string | number) => `| ${key} | ${value} |`;

export function modelCard(checkpoint: LoadedCheckpoint, facts: CardFacts): string {
  const { model, run, tokenizer, difftVersion } = checkpoint.config;
  const { state } = checkpoint;
  const evaluation = evaluationAt(checkpoint);
  const task = taskOf(run.data.task);
  const switches = switchesOff(model);
  const loadArgs = facts.remoteCode ? ', trust_remote_code=True' : '';
  const tokens = state.tokens.toLocaleString('en-US');
  return [
    '---',
    'library_name: transformers',
    'pipeline_tag: text-generation',
    'tags:',
    '  - difft',
    '  - differential-transformer',
    `  - ${model.attention}`,
    '---',
    '',
    `# ${run.name}: a ${attentionLabel(model)} decoder trained with difft`,
    '',
    `A decoder-only language model with ${ATTENTION_TITLES[model.attention]}, trained from scratch by ` +
      `[difft](https://www.npmjs.com/package/difft) ${difftVersion} and exported as transformers' ` +
      `\`${facts.architecture}\`${facts.remoteCode ? ' (its modeling code ships with the weights)' : ''}.`,
    '',
    '## Architecture',
    '',
    '| | |',
    '|---|---|',
    row('attention', attentionLabel(model)),
    row('layers', model.layers),
    row('width', model.width),
    row('heads (key/value heads)', `${model.heads} (${model.kvHeads})`),
    row('head width', headDim(model)),
    row('SwiGLU hidden width', ffnHiddenWidth(model)),
    row('context', `${model.seqLen} tokens (RoPE, base ${model.ropeBase})`),
    row('vocabulary', `${model.vocabSize} (${describeTokenizer(tokenizer.kind)})`),
    row('parameters', countParameters(model).total.toLocaleString('en-US')),
    row('tied embeddings', model.tieEmbeddings ? 'yes' : 'no'),
    row('switches off the paper’s defaults', switches.length ? switches.join(', ') : 'none'),
    '',
    '## Training',
    '',
    '| | |',
    '|---|---|',
    row('data', task ? `the built-in ${taskLabel(task)} task (${task.kind})` : run.data.corpus.join(', ')),
    row('steps', `${state.step} (${tokens} tokens)`),
    row('batch', `${run.train.batchSize} sequences × ${run.train.gradAccum} accumulation`),
    row('learning rate', `${run.train.lr}, warmup ${run.train.warmupSteps} steps, cosine to ${run.train.minLr}`),
    row('AdamW', `β = (${run.train.beta1}, ${run.train.beta2}), weight decay ${run.train.weightDecay}`),
    row('seed', run.train.seed),
    row('engine', state.engine),
    '',
    '## Evaluation',
    '',
    ...(evaluation
      ? [
          `On its validation split at step ${evaluation.step} (${evaluation.evalTokens.toLocaleString('en-US')} ` +
            'tokens, `difft eval` scores the same):',
          '',
          '| validation loss (nats/token) | perplexity | bits per byte |',
          '|---|---|---|',
          `| ${evaluation.valLoss.toFixed(4)} | ${evaluation.valPerplexity.toFixed(3)} | ` +
            `${evaluation.valBitsPerByte.toFixed(4)} |`,
        ]
      : [
          state.lastValLoss === undefined
            ? 'No evaluation was recorded with this checkpoint.'
            : `Validation loss at its last evaluation: ${state.lastValLoss.toFixed(4)} nats/token.`,
        ]),
    '',
    '## Use',
    '',
    '```python',
    'from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline',
    '',
    `model = AutoModelForCausalLM.from_pretrained("path/to/this/directory"${loadArgs})`,
    `tokenizer = AutoTokenizer.from_pretrained("path/to/this/directory"${loadArgs})`,
    'print(pipeline("text-generation", model=model, tokenizer=tokenizer)("The", max_new_tokens=20))',
    '```',
    '',
    `Exported from \`${basename(dirname(checkpoint.dir))}/${basename(checkpoint.dir)}\` with \`difft export ` +
      '--format hf`; `difft import` reads it back.',
    '',
  ].join('\n');
}

/** What each attention is, in the card's first sentence. */
const ATTENTION_TITLES: Record<Attention, string> = {
  standard: 'standard softmax attention (the Llama architecture)',
  diff: 'differential attention (Ye et al., 2024: Differential Transformer)',
  diff2: 'differential attention V2 (the Differential Transformer V2)',
};

function describeTokenizer(kind: string): string {
  if (kind === 'byte') return 'UTF-8 bytes';
  if (kind === 'char') return 'the characters of its corpus';
  if (kind === 'bpe') return 'byte-level BPE trained on its corpus';
  return 'a tiktoken encoding';
}
