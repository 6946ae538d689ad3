import { attentionLabel } from '../config/model.js';
import { loadModel, readCheckpoint, type LoadedCheckpoint } from '../checkpoint/checkpoint.js';
import { TokenDataset } from '../data/dataset.js';
import { dtypeFor, ShardedTokens, ShardWriter } from '../data/shards.js';
import { DEFAULT_EVAL_SEED, evaluationSet } from '../data/eval-set.js';
import { prepareDataset } from '../data/prepare.js';
import { readDocuments, resolveSources } from '../data/sources.js';
import { createTokenizer, DOCUMENT_SEPARATOR } from '../data/tokenizer.js';
import { UserError } from '../errors.js';
import { bitsPerByte, EvaluationLoss } from './loss.js';
import { type PositionBin, positionBins } from './positions.js';
import { hasManifest } from '../data/manifest.js';
import { scratchDirectory } from '../scratch.js';

/**
 * `difft eval`: loss, perplexity and bits per byte of a checkpoint on its run's validation split,
 * or on any corpus tokenised with the checkpoint's own tokenizer.
 */
export interface EvalOptions {
  /** Sources to evaluate on instead of the run's validation split. */
  corpus?: string[];
  /** Evaluate a fixed, seeded subset of about this many tokens (default: every token). */
  maxTokens?: number;
  /**
   * Picks that subset; give several checkpoints the same seed to score them on the same tokens (default: the run's
   * eval.seed).
   */
  seed?: number;
  batchSize?: number;
  /** Also the mean loss per position bin (src/eval/positions.ts). */
  byPosition?: boolean;
  /** Windows of this many positions, longer than trained on if need be (default: the trained context). */
  seqLen?: number;
  /** Also the loss with the attention logits fake-quantized to each of these bit widths (low-bit attention). */
  attentionBits?: number[];
  onProgress?: (tokensDone: number, tokensTotal: number) => void;
  onWarning?: (message: string) => void;
}

export interface EvalResult {
  checkpoint: string;
  attention: string;
  step: number;
  data: string;
  tokens: number;
  /** Which tokens were scored (src/data/eval-set.ts): equal fingerprints, identical tokens. */
  fingerprint: string;
  /** The context the windows had: the trained one unless `seqLen` asked for another. */
  seqLen: number;
  /** The context the checkpoint was trained on. */
  trainedSeqLen: number;
  loss: number;
  perplexity: number;
  bitsPerByte: number;
  /** With `byPosition`: the mean loss per position bin. */
  byPosition?: PositionBin[];
  /** With `attentionBits`: the loss at each bit width and its increase over full precision. */
  attentionBits?: { bits: number; loss: number; increase: number }[];
}

/** The longest context `eval --seq-len` builds: its causal mask alone is seqLen² floats (1 GiB here). */
export const LONGEST_EVAL_CONTEXT = 16384;

/** The run's validation tokens: from its dataset directory, re-prepared if it was deleted. */
async function validationTokens(checkpoint: LoadedCheckpoint, onWarning?: (message: string) => void) {
  const { run, dataset } = checkpoint.config;
  let dir = dataset.dir;
  if (!hasManifest(dir)) {
    onWarning?.(`dataset ${dir} is gone: preparing it again from ${run.data.corpus.join(', ')}`);
    dir = (
      await prepareDataset({
        sources: run.data.corpus,
        valSources: run.data.valCorpus,
        tokenizer: run.data.tokenizer,
        valFraction: run.data.valFraction,
        dataRoot: run.data.dir,
        textField: run.data.textField,
      })
    ).dir;
  }
  const opened = TokenDataset.open(dir);
  if (opened.manifest.key !== dataset.key)
    onWarning?.(`the dataset in ${dir} differs from the one the run was trained on`);
  const { val } = opened.manifest.splits;
  // a task dataset is scored example by example, as in training
  const stride = opened.manifest.task?.exampleLength;
  return {
    tokens: opened.val,
    bytes: val.bytes,
    tokensInSplit: val.tokens,
    label: `${dir} (validation)`,
    stride,
    release: () => opened.close(),
  };
}

/**
 * Tokenises sources with the checkpoint's tokenizer, documents separated as in training, streaming
 * the ids into temporary token shards (removed by `release`) so that any size of text fits.
 */
async function corpusTokens(checkpoint: LoadedCheckpoint, sources: string[], onWarning?: (message: string) => void) {
  const tokenizer = createTokenizer(checkpoint.config.tokenizer);
  const { path: dir, remove: release } = scratchDirectory('eval');
  try {
    const dtype = dtypeFor(tokenizer.vocabSize);
    const writer = new ShardWriter(dir, 'corpus', dtype);
    let bytes = 0;
    const separator = tokenizer.endOfText !== undefined ? [tokenizer.endOfText] : tokenizer.encode(DOCUMENT_SEPARATOR);
    for await (const document of readDocuments(resolveSources(sources), {
      textField: checkpoint.config.run.data.textField,
      onBadFile: 'skip',
      warn: onWarning ?? (() => {}),
    })) {
      if (writer.tokens > 0) writer.write(separator);
      for await (const piece of document.pieces) {
        writer.write(tokenizer.encode(piece));
        bytes += Buffer.byteLength(piece, 'utf8');
      }
    }
    writer.finish();
    if (writer.tokens < 2) throw new UserError(`corpus ${sources.join(', ')} holds fewer than two tokens`);
    const tokens = new ShardedTokens(dir, writer.shards, dtype);
    return {
      tokens,
      bytes,
      tokensInSplit: tokens.length,
      label: sources.join(', '),
      stride: undefined,
      release: () => {
        tokens.close();
        release();
      },
    };
  } catch (error) {
    release();
    throw error;
  } finally {
    tokenizer.free();
  }
}

/** The seed that scores several checkpoints on one subset: the first one's eval.seed. */
export function sharedEvalSeed(paths: string[]): number {
  return readCheckpoint(paths[0]).config.run.eval.seed ?? DEFAULT_EVAL_SEED;
}

export async function evaluateCheckpoint(path: string, options: EvalOptions = {}): Promise<EvalResult> {
  const checkpoint = readCheckpoint(path);
  const data = options.corpus?.length
    ? await corpusTokens(checkpoint, options.corpus, options.onWarning)
    : await validationTokens(checkpoint, options.onWarning);
  let model: ReturnType<typeof loadModel> | undefined;
  try {
    const seqLen = options.seqLen ?? checkpoint.config.model.seqLen;
    if (options.seqLen !== undefined && data.stride !== undefined)
      throw new UserError(
        `--seq-len ${options.seqLen}: ${checkpoint.dir} was trained on task examples, which are scored whole; ` +
          'score longer ones with --task <kind>:length=N',
      );
    if (seqLen > LONGEST_EVAL_CONTEXT)
      throw new UserError(
        `--seq-len ${seqLen}: at most ${LONGEST_EVAL_CONTEXT} (its causal mask alone grows with its square)`,
      );
    model = loadModel(checkpoint, seqLen);
    const { run } = checkpoint.config;
    const evalSet = evaluationSet(data.tokens, {
      seqLen,
      batchSize: options.batchSize ?? run.eval.batchSize,
      maxTokens: options.maxTokens,
      seed: options.seed ?? run.eval.seed ?? DEFAULT_EVAL_SEED,
      stride: data.stride,
    });
    const evaluationLoss = new EvaluationLoss(model);
    const progress = (done: number) => options.onProgress?.(done, evalSet.tokens);
    let loss: number;
    let tokens: number;
    let byPosition: PositionBin[] | undefined;
    try {
      if (options.byPosition) {
        // one pass gives both: the overall loss is the mean over every position
        const { sums, counts } = evaluationLoss.byPosition(evalSet.batches(), progress);
        byPosition = positionBins(sums, counts);
        tokens = counts.reduce((a, b) => a + b, 0);
        loss = sums.reduce((a, b) => a + b, 0) / tokens;
      } else ({ loss, tokens } = evaluationLoss.mean(evalSet.batches(), progress));
    } finally {
      evaluationLoss.dispose();
    }
    const lowBit = (options.attentionBits ?? []).map((bits) => {
      const quantized = new EvaluationLoss(model!, undefined, bits);
      try {
        const at = quantized.mean(evalSet.batches()).loss;
        return { bits, loss: at, increase: at - loss };
      } finally {
        quantized.dispose();
      }
    });
    return {
      checkpoint: checkpoint.dir,
      attention: attentionLabel(checkpoint.config.model),
      step: checkpoint.state.step,
      data: data.label,
      tokens,
      fingerprint: evalSet.fingerprint,
      seqLen,
      trainedSeqLen: checkpoint.config.model.seqLen,
      loss,
      perplexity: Math.exp(loss),
      bitsPerByte: bitsPerByte(loss, data.tokensInSplit, data.bytes),
      ...(byPosition ? { byPosition } : {}),
      ...(lowBit.length ? { attentionBits: lowBit } : {}),
    };
  } finally {
    model?.dispose();
    data.release();
  }
}
