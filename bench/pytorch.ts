/**
 * The PyTorch reference of the bench (bench/pytorch-reference.py): finding a Python that has torch,
 * and timing the same model and step there. difft's model config is the one source of the shape.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ffnHiddenWidth, type ModelConfig } from '../src/config/model.js';

const script = fileURLToPath(new URL('../../bench/pytorch-reference.py', import.meta.url));

/** Attentions the reference has: the baseline and the official V1 module's equations. */
export const PYTORCH_ATTENTIONS: readonly string[] = ['standard', 'diff'];

/**
 * A Python that imports every one of `modules`: DIFFT_PYTHON, DIFFT_HF_PYTHON, the project's
 * .difft/hf-python (what .ci/run installs), then python3. Undefined when none does.
 */
export function findPython(modules: string[]): string | undefined {
  const local = fileURLToPath(new URL('../../.difft/hf-python/bin/python', import.meta.url));
  const candidates = [
    process.env.DIFFT_PYTHON,
    process.env.DIFFT_HF_PYTHON,
    existsSync(local) ? local : undefined,
    'python3',
  ];
  for (const candidate of candidates) {
    if (candidate && spawnSync(candidate, ['-c', `import ${modules.join(', ')}`], { stdio: 'ignore' }).status === 0)
      return candidate;
  }
  return undefined;
}

/** What the reference builds: difft's shape, with the SwiGLU width worked out by difft's own rule. */
export function referenceShape(config: ModelConfig, batch: number): Record<string, number> {
  if (config.kvHeads !== config.heads || !config.tieEmbeddings) {
    throw new Error(
      'the PyTorch reference has multi-head attention and a tied head only (kvHeads = heads, tieEmbeddings)',
    );
  }
  const { vocabSize, layers, width, heads, seqLen, normEps, ropeBase } = config;
  return { vocabSize, layers, width, heads, seqLen, normEps, ropeBase, ffnHidden: ffnHiddenWidth(config), batch };
}

export interface ReferenceResult {
  engine: string;
  parameters: number;
  msPerStep: number;
  tokensPerSecond: number;
  threads: number;
  peakRssMiB: number;
}

/** Times `steps` training steps of `config`'s model in PyTorch (threads 0: the faster of 1 and 2). */
export function runPytorchReference(
  python: string,
  config: ModelConfig,
  batch: number,
  options: { steps: number; threads?: number; compile?: boolean },
): ReferenceResult | { error: string } {
  const args = [
    script,
    JSON.stringify(referenceShape(config, batch)),
    config.attention,
    String(options.steps),
    String(options.threads ?? 0),
  ];
  const child = spawnSync(python, options.compile ? [...args, '--compile'] : args, { encoding: 'utf8' });
  try {
    return JSON.parse(child.stdout.trim().split('\n').pop() ?? '');
  } catch {
    return { error: child.stderr.trim().split('\n').pop() || `exit ${child.status}` };
  }
}
