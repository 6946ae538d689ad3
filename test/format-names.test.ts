import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from './helpers/cli.js';

interface Source {
  path: string;
  text: string;
}
interface Checker {
  repositorySources(): { owners: Source[]; checked: Source[] };
  declaredNames(sources: Source[]): string[];
  formatNameViolations(sources: Source[], names: string[]): { path: string; name: string }[];
}

const checker = (await import(pathToFileURL(join(REPO_ROOT, 'scripts/check-format-names.mjs')).href)) as Checker;

/** One owner per on-disk format: the rule `npm run lint` runs, tried on the tree and on planted literals. */
describe('format file names', () => {
  const { owners, checked } = checker.repositorySources();
  const names = checker.declaredNames(owners);

  it('are declared by their owners', () => {
    for (const name of ['model.safetensors', 'state.json', 'metrics.jsonl', 'manifest.json', 'experiment.yaml'])
      assert.ok(names.includes(name), name);
  });

  it('appear nowhere else in src/ or the test helpers', () => {
    assert.deepEqual(checker.formatNameViolations(checked, names), []);
  });

  it('are found when planted: a name, a name in a message, a step pattern, a step name being built', () => {
    const planted = [
      "const weights = join(dir, 'model.safetensors');",
      `throw new Error(\`\${dir}: no metrics.jsonl\`);`,
      'const steps = names.filter((name) => /^step-\\d+$/.test(name));',
      `const name = \`step-\${step}\`;`,
      '// a comment may name manifest.json',
      "const other = 'notmodel.safetensors.bak';",
    ].map((text, index) => ({ path: `planted-${index}.ts`, text }));
    const found = checker.formatNameViolations(planted, names).map((violation) => violation.path);
    assert.deepEqual(found, ['planted-0.ts', 'planted-1.ts', 'planted-2.ts', 'planted-3.ts']);
  });
});
