import type { Attention, ModelConfig } from '../../config/model.js';
import type { Parameters, ParameterSpec } from '../parameter-spec.js';
import { diffAttention, diffDiagnostics, diffParameters } from './diff.js';
import { diff2Attention, diff2Diagnostics, diff2Parameters } from './diff2.js';
import type { AttentionDiagnostics } from './diagnostics.js';
import type { AttentionFn, LayerCapture } from './shared.js';
import { standardAttention } from './standard.js';

/**
 * Everything the rest of difft asks of an attention, in one row per attention: nothing outside
 * src/model/attention/ branches on an attention's name.
 */
export interface AttentionVariant {
  forward: AttentionFn;
  /**
   * Query heads of width d, each making one T×T map: H for standard and for diff (whose H/2
   * differential heads are pairs of sub-heads), 2H for diff2.
   */
  queryHeads(config: Pick<ModelConfig, 'heads'>): number;
  /** Its own parameters in layer `layer`'s attention block `prefix`, beside the q, k, v and output projections. */
  parameters(config: ModelConfig, prefix: string, layer: number): ParameterSpec[];
  /** The width of one head's output in sub-head widths d (diff: 2, its differential heads being pairs). */
  headWidths: number;
  /**
   * Float32 copies of each T×T map one training micro-batch keeps per layer (forward, backward and
   * their temporaries): the attention maps' term of the memory estimate (src/train/memory.ts), fitted
   * to measured peaks.
   */
  mapCopies: number;
  /** The captured maps allocation is measured on: the map the output is made of first. */
  allocationMaps: string[];
  /** Whether it has learned state to report (λ, gates) beyond its weights' values. */
  reportsState: boolean;
  /** Whether `diagnostics` needs a forward pass's captures (diff2's gates), not only the weights. */
  readsActivations: boolean;
  diagnostics(params: Parameters, config: ModelConfig, captures?: LayerCapture[]): AttentionDiagnostics;
}

export const ATTENTION_VARIANTS: Record<Attention, AttentionVariant> = {
  standard: {
    forward: standardAttention,
    queryHeads: ({ heads }) => heads,
    parameters: () => [],
    headWidths: 1,
    mapCopies: 12,
    allocationMaps: ['attention'],
    reportsState: false,
    readsActivations: false,
    diagnostics: () => ({}),
  },
  diff: {
    forward: diffAttention,
    queryHeads: ({ heads }) => heads,
    parameters: diffParameters,
    headWidths: 2,
    mapCopies: 14, // measured: about one copy more than standard's peak (8 against 7 on wasm, T 512–1,024)
    allocationMaps: ['differential', 'a1', 'a2'],
    reportsState: true,
    readsActivations: false,
    diagnostics: diffDiagnostics,
  },
  diff2: {
    forward: diff2Attention,
    queryHeads: ({ heads }) => 2 * heads,
    parameters: diff2Parameters,
    headWidths: 1,
    mapCopies: 12,
    allocationMaps: ['differential', 'a1', 'a2'],
    reportsState: true,
    readsActivations: true,
    diagnostics: diff2Diagnostics,
  },
};

/** The query heads of `config`'s attention: each makes one T×T map per layer. */
export function queryHeads(config: Pick<ModelConfig, 'attention' | 'heads'>): number {
  return ATTENTION_VARIANTS[config.attention].queryHeads(config);
}
