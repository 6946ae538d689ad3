import { existsSync, readdirSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.js';
import { BUILTIN_CORPORA } from './schema.js';

/**
 * Where configs come from, and what their paths mean, wherever difft is run from: a config is a
 * file path, or the name of a preset shipped in the package's configs/ folder (`--config default`,
 * `difft compare compare-default`); paths written inside a config file are relative to that file.
 */
export const PRESETS_DIR = fileURLToPath(new URL('../../../configs/', import.meta.url));

export function presetNames(): string[] {
  return readdirSync(PRESETS_DIR)
    .filter((name) => /\.ya?ml$/.test(name))
    .map((name) => name.replace(/\.ya?ml$/, ''))
    .sort();
}

/** A file path (relative to the working directory) or a preset name, to the file it means. */
export function locateConfig(nameOrPath: string, what = 'config'): string {
  if (existsSync(nameOrPath)) return resolve(nameOrPath);
  const bare = nameOrPath.replace(/\.ya?ml$/, '');
  if (!/[\\/]/.test(bare)) {
    for (const extension of ['.yaml', '.yml']) {
      const preset = join(PRESETS_DIR, bare + extension);
      if (existsSync(preset)) return preset;
    }
  }
  throw new UserError(
    `${what} file not found: ${nameOrPath} (neither a file nor a shipped preset: ${presetNames().join(', ')})`,
  );
}

/** Config keys whose values are paths: relative ones are anchored at the config file that wrote them. */
const PATH_KEYS = ['data.dir', 'output.dir', 'data.corpus', 'data.valCorpus'] as const;
const CORPUS_KEYS: string[] = ['data.corpus', 'data.valCorpus'];

/** One path value, anchored at `baseDir` unless absolute or (for corpora) a built-in corpus name. */
export function anchorPath(key: string, value: unknown, baseDir: string): unknown {
  if (!(PATH_KEYS as readonly string[]).includes(key)) return value;
  const anchor = (path: unknown) =>
    typeof path === 'string' &&
    !isAbsolute(path) &&
    !(CORPUS_KEYS.includes(key) && (BUILTIN_CORPORA as readonly string[]).includes(path))
      ? join(baseDir, path)
      : path;
  return Array.isArray(value) ? value.map(anchor) : anchor(value);
}

/** Anchors the path keys of a nested config read from a file in `baseDir`. */
export function anchorPaths(config: Record<string, unknown>, baseDir: string): Record<string, unknown> {
  for (const key of PATH_KEYS) {
    const [section, name] = key.split('.');
    const node = config[section] as Record<string, unknown> | undefined;
    if (node && typeof node === 'object' && name in node) node[name] = anchorPath(key, node[name], baseDir);
  }
  return config;
}

/** The folder a config file lives in, for anchoring. */
export function configDir(file: string): string {
  return dirname(resolve(file));
}
