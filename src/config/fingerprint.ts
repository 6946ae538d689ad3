import { createHash } from 'node:crypto';
import { changedKeys, resolveConfig, RESUMABLE_KEYS } from './load.js';
import type { RunConfig } from './schema.js';

/**
 * What a run's results depend on, as a short hash: every resolved config key whose value is not its
 * default, except those that cannot change results — how long it trains (a resume may extend it),
 * which engine computes it, where caches and checkpoints go, the run's name. Two runs with one
 * fingerprint trained the same experiment cell; `difft report` compares each finished run's
 * fingerprint with the one its plan recorded.
 *
 * Keys at their default are left out so that a fingerprint recorded by one difft is the same under a
 * later one that added keys (a new key arrives at its default, which reproduces the old behaviour).
 */
const IRRELEVANT = [...RESUMABLE_KEYS, 'name', 'data.dir'];
const irrelevant = (key: string) => IRRELEVANT.includes(key) || key.startsWith('output.');

function flatten(config: unknown): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (node: unknown, prefix: string) => {
    if (node && typeof node === 'object' && !Array.isArray(node))
      for (const [key, value] of Object.entries(node)) walk(value, prefix ? `${prefix}.${key}` : key);
    else out.set(prefix, JSON.stringify(node));
  };
  walk(config, '');
  return out;
}

let defaults: Map<string, string> | undefined;

/** The keys that set a run apart from the defaults, sorted. */
function distinctive(config: RunConfig): [string, string][] {
  defaults ??= flatten(resolveConfig({}, 'defaults'));
  // defaults filled in first, so that an older config's missing keys count as their defaults
  const resolved = flatten(resolveConfig(structuredClone(config) as unknown as Record<string, unknown>));
  return [...resolved]
    .filter(([key, value]) => !irrelevant(key) && defaults!.get(key) !== value)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

export function configFingerprint(config: RunConfig): string {
  const canonical = distinctive(config)
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
