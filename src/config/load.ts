import { schemaCheck } from '../schema.js';
import type { ErrorObject } from 'ajv';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import YAML from 'yaml';
import { shownValue, UserError } from '../errors.js';
import { anchorPaths, configDir, locateConfig } from './locate.js';
import { MODEL_DEFAULTS, resolveModelConfig } from './model.js';
import { CONFIG_SCHEMA, type RunConfig } from './schema.js';

/**
 * Config files (YAML or JSON), dotted `--set key=value` overrides typed by the schema, defaults,
 * and validation whose errors name the key, the bad value and what is allowed.
 */
const validate = schemaCheck(CONFIG_SCHEMA, { useDefaults: true });

type Plain = Record<string, unknown>;

export function readConfigFile(path: string): Plain {
  if (!existsSync(path)) throw new UserError(`config file not found: ${path}`);
  if (statSync(path).isDirectory())
    throw new UserError(`${path} is a directory: give a config file (.yaml or .json) or a preset name`);
  const text = readFileSync(path, 'utf8');
  try {
    const parsed = extname(path) === '.json' ? JSON.parse(text) : YAML.parse(text);
    if (parsed === null || parsed === undefined) return {};
    if (typeof parsed !== 'object' || Array.isArray(parsed))
      throw new Error('the top level must be a mapping of sections');
    return parsed as Plain;
  } catch (error) {
    const message = (error as Error).message.split('\n')[0];
    throw new UserError(`${path}: cannot parse config: ${message}`);
  }
}

/** The schema node for a dotted key, or undefined when no such key exists. */
function schemaAt(key: string): Plain | undefined {
  let node: Plain | undefined = CONFIG_SCHEMA as unknown as Plain;
  for (const part of key.split('.')) {
    const properties = node?.properties as Plain | undefined;
    node = properties?.[part] as Plain | undefined;
  }
  return node;
}

function knownKeys(prefix: string): string[] {
  const node = prefix ? schemaAt(prefix) : (CONFIG_SCHEMA as unknown as Plain);
  return Object.keys((node?.properties as Plain) ?? {}).map((k) => (prefix ? `${prefix}.${k}` : k));
}

/** Applies `key=value`; the value is parsed as YAML (so 3e-4, true, [a, b] work) and checked against the schema. */
export function applyOverride(config: Plain, assignment: string): void {
  const eq = assignment.indexOf('=');
  if (eq < 1) throw new UserError(`--set ${assignment}: expected key=value, e.g. --set model.layers=6`);
  setConfigValue(
    config,
    assignment.slice(0, eq).trim(),
    assignment.slice(eq + 1),
    `--set ${assignment.slice(0, eq).trim()}`,
  );
}

/**
 * Sets a dotted key. A string from the command line is parsed as YAML first; `where` names the
 * origin of the value in errors. Types are checked later, with the whole config, by the schema.
 */
export function setConfigValue(config: Plain, key: string, given: unknown, where = key): void {
  const node = schemaAt(key);
  if (!node || node.type === 'object') {
    const parent = key.includes('.') ? key.slice(0, key.lastIndexOf('.')) : '';
    throw new UserError(
      `${where}: unknown config key; known ` +
        `keys${parent ? ` in ${parent}` : ''}: ${knownKeys(schemaAt(parent) ? parent : '').join(', ')}`,
    );
  }
  let value = typeof given === 'string' ? parseValue(given, where) : given;
  if (node.type === 'array' && typeof value === 'string') value = value.split(',').map((s) => s.trim());
  if (node.type === 'string' && typeof value !== 'string' && typeof given === 'string') value = given;
  const parts = key.split('.');
  let target = config;
  for (const part of parts.slice(0, -1)) {
    if (typeof target[part] !== 'object' || target[part] === null) target[part] = {};
    target = target[part] as Plain;
  }
  target[parts[parts.length - 1]] = value;
}

/** A value typed on the command line, read as YAML (3e-4, true, [a, b]); a broken one named with its key. */
function parseValue(text: string, where: string): unknown {
  try {
    return YAML.parse(text) as unknown;
  } catch (error) {
    const reason = (error as Error).message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw new UserError(`${where}: cannot read ${JSON.stringify(text)} as a value (${reason}); quote it if it is text`);
  }
}

/**
 * The error to name: a value that fits none of a key's forms (anyOf) is named as that, not by the first
 * form's complaint ("must be equal to constant" for a number given to `depth | number`).
 */
function firstProblem(errors: ErrorObject[]): ErrorObject {
  const alternatives = errors.find(
    (error) => error.keyword === 'anyOf' && error.instancePath === errors[0].instancePath,
  );
  return alternatives ? { ...alternatives, message: 'is none of the forms it takes' } : errors[0];
}

function describeError(error: ErrorObject, config: Plain): string {
  const path = error.instancePath.split('/').filter(Boolean);
  if (error.keyword === 'additionalProperties') {
    const extra = (error.params as { additionalProperty: string }).additionalProperty;
    const key = [...path, extra].join('.');
    return (
      `unknown config key ${key}; known ` +
      `keys${path.length ? ` in ${path.join('.')}` : ''}: ${knownKeys(path.join('.')).join(', ')}`
    );
  }
  const key = path.join('.');
  let value: unknown = config;
  for (const part of path) value = (value as Plain)?.[part];
  const node = schemaAt(key.replace(/\.\d+$/, ''));
  const allowed =
    error.keyword === 'enum'
      ? `must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`
      : (error.message ?? 'is not allowed');
  const description = node?.description ? ` (${key}: ${node.description})` : '';
  return `config key ${key} = ${shownValue(value)}: ${allowed}${description}`;
}

/** The first number that is NaN or infinite (YAML writes them .nan and .inf; JSON Schema lets them pass). */
function firstNonFinite(node: unknown, key = ''): { key: string; value: number } | undefined {
  if (typeof node === 'number') return Number.isFinite(node) ? undefined : { key, value: node };
  if (!node || typeof node !== 'object') return undefined;
  for (const [part, child] of Object.entries(node)) {
    const found = firstNonFinite(child, key ? `${key}.${part}` : part);
    if (found) return found;
  }
  return undefined;
}

/** Validates, fills defaults and checks the model's shape rules. `source` names the file in errors. */
export function resolveConfig(raw: Plain, source = 'config'): RunConfig {
  const config = structuredClone(raw);
  const infinite = firstNonFinite(config);
  if (infinite)
    throw new UserError(`${source}: config key ${infinite.key} = ${infinite.value}: must be a finite number`);
  if (!validate(config)) throw new UserError(`${source}: ${describeError(firstProblem(validate.errors!), config)}`);
  const resolved = config as unknown as RunConfig;
  try {
    // the model keys' shape rules; the vocabulary comes with the data (src/data/run-model.ts)
    resolveModelConfig({ ...resolved.model, vocabSize: MODEL_DEFAULTS.vocabSize });
  } catch (error) {
    throw new UserError(`${source}: ${(error as Error).message}`);
  }
  if (resolved.train.minLr > resolved.train.lr) {
    throw new UserError(
      `${source}: config key train.minLr = ${resolved.train.minLr}: must not exceed train.lr (${resolved.train.lr})`,
    );
  }
  if (resolved.train.textWeight < 1 && (resolved.data.task?.kind ?? 'none') === 'none') {
    throw new UserError(
      `${source}: config key train.textWeight = ${resolved.train.textWeight}: weighs answers, so it needs a task ` +
        `(data.task.kind: needles or mqar); plain text trains at 1`,
    );
  }
  const { shortSteps, shortLength } = resolved.train;
  if (shortSteps > 0 && (resolved.data.task?.kind ?? 'none') === 'none')
    throw new UserError(
      `${source}: config key train.shortSteps = ${shortSteps}: a warm start from short examples needs a task ` +
        `(data.task.kind: needles or mqar)`,
    );
  if (shortSteps > 0 && shortLength > resolved.model.seqLen)
    throw new UserError(
      `${source}: config key train.shortLength = ${shortLength}: must be shorter than a window (model.seqLen + 1 = ` +
        `${resolved.model.seqLen + 1})`,
    );
  return resolved;
}

/** A config file (or preset name) with its paths anchored at the file, then `--set` overrides. */
export function loadConfig(path: string | undefined, overrides: string[] = []): RunConfig {
  const file = path ? locateConfig(path) : undefined;
  const raw = file ? anchorPaths(readConfigFile(file), configDir(file)) : {};
  for (const assignment of overrides) applyOverride(raw, assignment);
  return resolveConfig(raw, path ?? 'config');
}

/** What a resumed run may change: how long it trains and on which engine — nothing that shapes its math. */
export const RESUMABLE_KEYS = ['train.steps', 'train.backend', 'train.threads'];

/** Dotted keys whose values differ between two configs (defaults filled in both). */
export function changedKeys(before: RunConfig, after: RunConfig): string[] {
  const flat = (config: RunConfig) => {
    const out = new Map<string, string>();
    const walk = (node: unknown, prefix: string) => {
      if (node && typeof node === 'object' && !Array.isArray(node))
        for (const [key, value] of Object.entries(node)) walk(value, prefix ? `${prefix}.${key}` : key);
      else out.set(prefix, JSON.stringify(node));
    };
    walk(resolveConfig(structuredClone(config) as unknown as Plain), '');
    return out;
  };
  const [a, b] = [flat(before), flat(after)];
  return [...new Set([...a.keys(), ...b.keys()])].filter((key) => a.get(key) !== b.get(key)).sort();
}

/** A run's stored config with `--set` overrides for a resume; refuses any key a resume cannot change. */
export function resumeConfig(stored: RunConfig, overrides: string[]): RunConfig {
  const raw = structuredClone(stored) as unknown as Plain;
  for (const assignment of overrides) applyOverride(raw, assignment);
  const config = resolveConfig(raw, '--set');
  checkResumable(stored, config, '--set');
  return config;
}

export function checkResumable(stored: RunConfig, config: RunConfig, where: string): void {
  const refused = changedKeys(stored, config).filter((key) => !RESUMABLE_KEYS.includes(key) && key !== 'name');
  if (refused.length) {
    throw new UserError(
      `${where}: ${refused.join(', ')} cannot change when resuming (only ${RESUMABLE_KEYS.join(', ')} can); start ` +
        `a new run to change ${refused.length > 1 ? 'them' : 'it'}`,
    );
  }
}

export function configToYaml(config: RunConfig): string {
  return YAML.stringify(config);
}
