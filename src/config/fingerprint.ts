import { createHash } from 'node:crypto';
import { changedKeys, resolveConfig, RESUMABLE_KEYS } from './load.js';
import type { RunConfig } from './schema.js';

/**
 * What a run's results depend on, as a short hash: every resolved config key except those that
 * cannot change them — how long it trains (a resume may extend it), which engine computes it, where
 * caches and checkpoints go, the run's name. Two runs with one fingerprint trained the same
 * experiment cell; an experiment re-run compares each finished run's fingerprint with its plan.
 */
const IRRELEVANT = [...RESUMABLE_KEYS, 'name', 'data.dir'];
const irrelevant = (key: string) => IRRELEVANT.includes(key) || key.startsWith('output.');

function flatten(config: RunConfig): [string, string][] {
  const out: [string, string][] = [];
  const walk = (node: unknown, prefix: string) => {
    if (node && typeof node === 'object' && !Array.isArray(node))
      for (const [key, value] of Object.entries(node)) walk(value, prefix ? `${prefix}.${key}` : key);
    else out.push([prefix, JSON.stringify(node)]);
  };
  // defaults filled in, so that a config written before a key existed has the same fingerprint
  walk(resolveConfig(structuredClone(config) as unknown as Record<string, unknown>), '');
  return out.filter(([key]) => !irrelevant(key)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

export function configFingerprint(config: RunConfig): string {
  const canonical = flatten(config)
    .map(([key, value]) => `${key}=${value}`)
    .join('\n');
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

/**
 * The keys that make `trained` a different experiment cell from `planned`: the fingerprint's keys
 * that differ, and train.steps when fewer are planned now (its schedule decayed over more steps;
 * extending a run is what a resume does).
 */
export function fingerprintChanges(trained: RunConfig, planned: RunConfig): string[] {
  const keys = changedKeys(trained, planned).filter((key) => !irrelevant(key));
  if (trained.train.steps > planned.train.steps) keys.push('train.steps');
  return keys;
}
