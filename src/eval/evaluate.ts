import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, readCheckpoint, type LoadedCheckpoint } from '../checkpoint/checkpoint.js';
import { evalBatches, TokenDataset } from '../data/dataset.js';
import { prepareDataset } from '../data/prepare.js';
import { readDocuments, resolveSources } from '../data/sources.js';
import { createTokenizer, DOCUMENT_SEPARATOR } from '../data/tokenizer.js';
import { UserError } from '../errors.js';
import { bitsPerByte, meanLoss } from '../model/evaluate.js';

/**
 * `difft eval`: loss, perplexity and bits per byte of a checkpoint on its run's validation split,
 * or on any corpus tokenised with the checkpoint's own tokenizer.
 */
export interface EvalOptions {
  /** Sources to evaluate on instead of the run's validation split. */
  corpus?: string[];
  /** Evaluate a fixed, seeded subset of about this many tokens (the run's seed). */
  maxTokens?: number;
  batchSize?: number;
  onProgress?: (tokensDone: number, tokensTotal: number) => void;
  onWarning?: (message: string) => void;
}

export interface EvalResult {
  checkpoint: string;
  attention: string;
  step: number;
  data: string;
  tokens: number;
  loss: number;
  perplexity: number;
  bitsPerByte: number;
}

/** The run's validation tokens: from its dataset directory, re-prepared if it was deleted. */
async function validationTokens(checkpoint: LoadedCheckpoint, onWarning?: (message: string) => void) {
  const { run, dataset } = checkpoint.config;
  let dir = dataset.dir;
  if (!existsSync(join(dir, 'manifest.json'))) {
    onWarning?.(`dataset ${dir} is gone: preparing it again from ${run.data.corpus.join(', ')}`);
    dir = (await prepareDataset({ sources: run.data.corpus, tokenizer: run.data.tokenizer, valFraction: run.data.valFraction, dataRoot: run.data.dir, textField: run.data.textField })).dir;
  }
  const opened = TokenDataset.open(dir);
  if (opened.manifest.key !== dataset.key) onWarning?.(`the dataset in ${dir} differs from the one the run was trained on`);
  return { tokens: opened.val, bytes: opened.manifest.splits.val.bytes, tokensInSplit: opened.manifest.splits.val.tokens, label: `${dir} (validation)` };
}

/** Tokenises sources with the checkpoint's tokenizer, documents separated as in training. */
async function corpusTokens(checkpoint: LoadedCheckpoint, sources: string[], onWarning?: (message: string) => void) {
  const tokenizer = createTokenizer(checkpoint.config.tokenizer);
  try {
    const ids: number[] = [];
    let bytes = 0;
    const separator = tokenizer.endOfText !== undefined ? [tokenizer.endOfText] : tokenizer.encode(DOCUMENT_SEPARATOR);
    for await (const document of readDocuments(resolveSources(sources), { textField: checkpoint.config.run.data.textField, onBadFile: 'skip', warn: onWarning ?? (() => {}) })) {
      if (ids.length > 0) ids.push(...separator);
      for await (const piece of document.pieces) {
        for (const id of tokenizer.encode(piece)) ids.push(id);
        bytes += Buffer.byteLength(piece, 'utf8');
      }
    }
    if (ids.length < 2) throw new UserError(`corpus ${sources.join(', ')} holds fewer than two tokens`);
    const tokens = Uint32Array.from(ids);
    return { tokens, bytes, tokensInSplit: tokens.length, label: sources.join(', ') };
  } finally {
    tokenizer.free();
  }
}

export async function evaluateCheckpoint(path: string, options: EvalOptions = {}): Promise<EvalResult> {
  const checkpoint = readCheckpoint(path);
  const data = options.corpus?.length ? await corpusTokens(checkpoint, options.corpus, options.onWarning) : await validationTokens(checkpoint, options.onWarning);
  const model = loadModel(checkpoint);
  try {
    const { run } = checkpoint.config;
    const windows = evalBatches(data.tokens, checkpoint.config.model.seqLen, options.batchSize ?? run.eval.batchSize, {
      maxTokens: options.maxTokens,
      seed: run.train.seed,
    });
    const total = Math.min(data.tokens.length - 1, options.maxTokens ?? Infinity);
    const { loss, tokens } = meanLoss(model, windows, (done) => options.onProgress?.(done, total));
    return {
      checkpoint: checkpoint.dir,
      attention: checkpoint.config.model.attention,
      step: checkpoint.state.step,
      data: data.label,
      tokens,
      loss,
      perplexity: Math.exp(loss),
      bitsPerByte: bitsPerByte(loss, data.tokensInSplit, data.bytes),
    };
  } finally {
    model.dispose();
  }
}
