import type { RunConfig } from '../config/schema.js';
import { anchorPaths } from '../config/locate.js';
import { applyOverride, loadConfig, resolveConfig } from '../config/load.js';

type DeepPartial<T> = T extends (infer Item)[]
  ? Item[]
  : T extends object
    ? { [Key in keyof T]?: DeepPartial<T[Key]> }
    : T;

/**
 * A run's config as a program writes it: the keys of a config file (docs/config.md), each optional, the
 * defaults filling the rest. Relative paths in it are relative to the working directory.
 */
export type ConfigInput = DeepPartial<RunConfig>;

/**
 * Changes to a config, key by key: `{ 'train.steps': 200 }`, or the command line's
 * `['train.steps=200']` (values read as YAML).
 */
export type ConfigChanges = Record<string, unknown> | string[];

/** `--set`'s form of the changes (a JSON value is a YAML value). */
export function overridesOf(changes: ConfigChanges = []): string[] {
  if (Array.isArray(changes)) return changes;
  return Object.entries(changes).map(([key, value]) => `${key}=${JSON.stringify(value)}`);
}

/** A preset name, a config file, or a config object, with its changes applied, validated and complete. */
export function resolveRunConfig(config: string | ConfigInput | undefined, changes?: ConfigChanges): RunConfig {
  if (config === undefined || typeof config === 'string') return loadConfig(config ?? 'default', overridesOf(changes));
  const raw = anchorPaths(structuredClone(config) as Record<string, unknown>, process.cwd());
  for (const assignment of overridesOf(changes)) applyOverride(raw, assignment);
  return resolveConfig(raw, 'config');
}
