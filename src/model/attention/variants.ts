import type { Attention, ModelConfig } from '../../config/model.js';
import type { Parameters } from '../parameters.js';
import { diffAttention, diffDiagnostics } from './diff.js';
import { diff2Attention, diff2Diagnostics } from './diff2.js';
import type { AttentionDiagnostics } from './diagnostics.js';
import type { AttentionFn, LayerCapture } from './shared.js';
import { standardAttention } from './standard.js';

/** Everything the rest of difft asks of an attention, in one row per attention. */
export interface AttentionVariant {
  forward: AttentionFn;
  /** The captured maps allocation is measured on: the map the output is made of first. */
  allocationMaps: string[];
  /** Whether `diagnostics` needs a forward pass's captures (diff2's gates), not only the weights. */
  readsActivations: boolean;
  diagnostics(params: Parameters, config: ModelConfig, captures?: LayerCapture[]): AttentionDiagnostics;
}

export const ATTENTION_VARIANTS: Record<Attention, AttentionVariant> = {
  standard: {
    forward: standardAttention,
    allocationMaps: ['attention'],
    readsActivations: false,
    diagnostics: () => ({}),
  },
  diff: {
    forward: diffAttention,
    allocationMaps: ['differential', 'a1', 'a2'],
    readsActivations: false,
    diagnostics: diffDiagnostics,
  },
  diff2: {
    forward: diff2Attention,
    allocationMaps: ['differential', 'a1', 'a2'],
    readsActivations: true,
    diagnostics: diff2Diagnostics,
  },
};
