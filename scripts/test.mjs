// `npm test`: the compiled test files, two at a time (the machines have two cores), longest first, then the
// files that send signals or kill processes at chosen moments, one at a time (run beside other work, their
// moments drift and the process-group and SIGHUP cases flaked). Arguments are passed to both runs (e.g. --test-name-pattern).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'dist', 'test');
const ALONE = ['signals', 'crash', 'compare', 'training', 'ablations', 'memory'].map((n) => `${n}.test.js`);
// the longest files first (measured in CI, seconds), so that two at a time finish together rather than one
// long file running alone at the end; the rest follow by name
const LONGEST = ['misuse', 'determinism', 'eval', 'export-tokenizer', 'package', 'analyze', 'export'].map(
  (n) => `${n}.test.js`,
);
const rank = (file) => (LONGEST.includes(file) ? LONGEST.indexOf(file) : LONGEST.length);
const files = readdirSync(dir)
  .filter((file) => file.endsWith('.test.js'))
  .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
const extra = process.argv.slice(2);

function run(concurrency, list) {
  if (list.length === 0) return 0;
  const args = ['--test', `--test-concurrency=${concurrency}`, ...extra, ...list.map((file) => join(dir, file))];
  return spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root }).status ?? 1;
}

const shared = run(
  2,
  files.filter((file) => !ALONE.includes(file)),
);
const alone = run(
  1,
  files.filter((file) => ALONE.includes(file)),
);
process.exit(shared || alone);
