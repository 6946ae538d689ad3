import { readFileSync } from 'node:fs';
import type { NamedArray } from '../checkpoint/safetensors.js';
import { headNormOn, type ModelConfig } from '../config/model.js';
import { hfShape } from './hf-attentions.js';

/**
 * Exports that carry their own modeling code: every model transformers has no class for (diff2, and
 * any ablation switch off Llama's or DiffLlama's hard-coded choices). The directory holds
 * integrations/transformers' `configuration_difft.py` and `modeling_difft.py`, which compute difft's
 * equations in difft's own layout, and config.json's `auto_map` names them, so that
 * `AutoModelForCausalLM.from_pretrained(dir, trust_remote_code=True)` builds them. The weights are the
 * checkpoint's as stored (linear maps [out, in], RoPE on adjacent pairs), under `model.` (lm_head stays).
 */
export const REMOTE_ARCHITECTURE = 'DifftForCausalLM';
export const REMOTE_MODEL_TYPE = 'difft';

/** The modeling files, read from the package (integrations/transformers), by their names in the export. */
export function remoteCodeFiles(): Record<string, string> {
  const read = (name: string) =>
    readFileSync(new URL(`../../../integrations/transformers/${name}`, import.meta.url), 'utf8');
  return Object.fromEntries(['configuration_difft.py', 'modeling_difft.py'].map((name) => [name, read(name)]));
}

/** config.json's model part for the remote-code classes (DifftConfig's keys). */
export function remoteConfig(model: ModelConfig): Record<string, unknown> {
  return {
    architectures: [REMOTE_ARCHITECTURE],
    model_type: REMOTE_MODEL_TYPE,
    auto_map: {
      AutoConfig: 'configuration_difft.DifftConfig',
      AutoModelForCausalLM: 'modeling_difft.DifftForCausalLM',
    },
    ...hfShape(model),
    attention: model.attention,
    head_norm: headNormOn(model),
    lambda_init: model.lambdaInit,
    lambda_mode: model.lambda,
    output_scale: model.outputScale,
    gate: model.gate,
    pairing: model.pairing,
    use_cache: false,
    torch_dtype: 'float32',
  };
}

/** The checkpoint's tensors under the remote classes' names: `model.` before all but the untied head. */
export function remoteWeights(stored: Record<string, NamedArray>): Record<string, NamedArray> {
  return Object.fromEntries(
    Object.entries(stored).map(([name, array]) => [name === 'lm_head.weight' ? name : `model.${name}`, array]),
  );
}
