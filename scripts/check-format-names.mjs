#!/usr/bin/env node
/**
 * One owner per on-disk format: the file names of difft's own formats (a checkpoint's
 * `model.safetensors`, a run's `metrics.jsonl`, a dataset's `manifest.json`, …) are written only in
 * their owners — src/formats/ and src/lock.ts — and every other module of src/ and the test helpers
 * names them through those modules. Run by `npm run lint`; test/format-names.test.ts plants a literal
 * to see it fail.
 *
 * What counts as a literal: a string, a piece of a template string or a regular expression in the
 * code (comments are free to name files). Besides the names, two patterns have one owner too: step
 * checkpoints (`step-000600`: a regular expression naming them, or a string that builds one) and
 * TensorBoard's event files.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSync } from '@swc/core';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OWNERS = [/^src\/formats\//, /^src\/lock\.ts$/];
const CHECKED = [/^src\/.+\.ts$/, /^test\/helpers\/.+\.ts$/];

function filesUnder(dir) {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

/** Every node of an swc AST, depth first. */
function* nodes(value) {
  if (Array.isArray(value)) for (const item of value) yield* nodes(item);
  else if (value && typeof value === 'object') {
    if (typeof value.type === 'string') yield value;
    for (const key of Object.keys(value)) if (key !== 'span') yield* nodes(value[key]);
  }
}

function parse(text) {
  return parseSync(text, { syntax: 'typescript', target: 'es2022', comments: false });
}

/** The text of each literal in the code: strings, template pieces and regular expressions, tagged by kind. */
function literals(text) {
  const found = [];
  for (const node of nodes(parse(text).body)) {
    if (node.type === 'StringLiteral') found.push({ kind: 'string', text: node.value });
    else if (node.type === 'TemplateElement') found.push({ kind: 'template', text: node.cooked ?? node.raw });
    else if (node.type === 'RegExpLiteral') found.push({ kind: 'regexp', text: node.pattern });
  }
  return found;
}

/** The format file names the owners declare: the strings of every `*_FILE` and `*_FILES` constant. */
export function declaredNames(sources) {
  const names = new Set();
  for (const { text } of sources) {
    for (const node of nodes(parse(text).body)) {
      if (node.type !== 'VariableDeclarator' || !/_FILES?$/.test(node.id?.value ?? '')) continue;
      for (const inner of nodes(node.init)) if (inner.type === 'StringLiteral') names.add(inner.value);
    }
  }
  return [...names];
}

const escapeRegExp = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** What a literal names, if anything: a format's file name (as a whole word), or a step or event file pattern. */
function offence(literal, patterns) {
  for (const { name, pattern } of patterns) if (pattern.test(literal.text)) return name;
  if (literal.kind === 'regexp' && /step-|tfevents/.test(literal.text)) return `the pattern /${literal.text}/`;
  if (literal.kind !== 'regexp' && /(^|\/)step-$/.test(literal.text)) return 'a step checkpoint name';
  if (literal.kind !== 'regexp' && literal.text.startsWith('events.out.tfevents')) return 'an event file name';
  return undefined;
}

/** `path:line`-free findings, one per literal: [{ path, name }]. */
export function formatNameViolations(sources, names) {
  // names with an extension, found inside prose too; a bare word (`best`) is also an owner's typed key
  // (`runFile(dir, 'best')`), which the compiler checks
  const patterns = names
    .filter((name) => name.includes('.'))
    .map((name) => ({ name, pattern: new RegExp(`(^|[^\\w.-])${escapeRegExp(name)}($|[^\\w-])`) }));
  const violations = [];
  for (const { path, text } of sources) {
    for (const literal of literals(text)) {
      const name = offence(literal, patterns);
      if (name) violations.push({ path, name, literal: literal.text });
    }
  }
  return violations;
}

/** The sources of the repository: owners (where names are declared) and the checked rest. */
export function repositorySources() {
  const read = (path) => ({ path, text: readFileSync(join(ROOT, path), 'utf8') });
  const all = [...filesUnder('src'), ...filesUnder('test/helpers')].map((path) => relative(ROOT, join(ROOT, path)));
  const owners = all.filter((path) => OWNERS.some((owner) => owner.test(path))).map(read);
  const checked = all
    .filter((path) => CHECKED.some((pattern) => pattern.test(path)) && !OWNERS.some((owner) => owner.test(path)))
    .map(read);
  return { owners, checked };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { owners, checked } = repositorySources();
  const violations = formatNameViolations(checked, declaredNames(owners));
  for (const { path, name, literal } of violations) {
    console.error(
      `${path}: names ${name} in ${JSON.stringify(literal)}: use its owner in src/formats/ (or src/lock.ts)`,
    );
  }
  if (violations.length) process.exit(1);
}
