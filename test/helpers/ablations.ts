import type { ModelConfig } from '../../src/config/model.js';

/** One model per ablation switch off its default (and a few together), for tests that hold each to the math. */
export const ABLATIONS: { label: string; config: Partial<ModelConfig> }[] = [
  { label: 'standard with a per-head norm', config: { attention: 'standard', headNorm: 'on' } },
  { label: 'standard, head width apart from the model width', config: { attention: 'standard', headDim: 6 } },
  { label: 'diff without the per-head norm', config: { attention: 'diff', headNorm: 'off' } },
  { label: 'diff without the (1 − λ_init) scale', config: { attention: 'diff', outputScale: false } },
  { label: 'diff with λ_init 0.5 in every layer', config: { attention: 'diff', lambdaInit: 0.5 } },
  { label: 'diff with a learnable λ per head', config: { attention: 'diff', lambda: 'scalar' } },
  { label: 'diff with λ fixed at λ_init 0.8', config: { attention: 'diff', lambda: 'fixed', lambdaInit: 0.8 } },
  {
    label: 'diff with neither norm nor scale, head width 6',
    config: { attention: 'diff', headNorm: 'off', outputScale: false, headDim: 6 },
  },
  { label: 'diff2 with a learnable gate per head', config: { attention: 'diff2', gate: 'scalar' } },
  { label: 'diff2 without a gate (λ = 1)', config: { attention: 'diff2', gate: 'none' } },
  { label: 'diff2 with an unbounded λ', config: { attention: 'diff2', gate: 'unbounded' } },
  { label: 'diff2 pairing query heads across kv groups', config: { attention: 'diff2', pairing: 'across' } },
  {
    label: 'diff2 across two of four kv groups, with a per-head norm',
    config: { attention: 'diff2', pairing: 'across', headNorm: 'on', kvHeads: 2 },
  },
];
