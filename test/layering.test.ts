import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT } from './helpers/cli.js';

/**
 * The layering is written once, in .dependency-cruiser.cjs, which `npm run lint` enforces on the code;
 * docs/design.md draws it. This holds the drawing equal to the table, so neither drifts alone.
 */
describe('layering', () => {
  it('docs/design.md draws the layers .dependency-cruiser.cjs enforces', () => {
    const { LAYERS } = createRequire(import.meta.url)(join(REPO_ROOT, '.dependency-cruiser.cjs')) as {
      LAYERS: string[][];
    };
    const design = readFileSync(join(REPO_ROOT, 'docs/design.md'), 'utf8');
    const drawn = /```layers\n([\s\S]*?)```/.exec(design)?.[1];
    assert.ok(drawn, 'docs/design.md has no ```layers block');
    const rows = drawn
      .trim()
      .split('\n')
      .map((row) => row.split(' · ').map((name) => name.trim()));
    assert.deepEqual(rows, [...LAYERS].reverse());
  });

  it('nothing outside src/model/attention/ branches on an attention by name (its row there owns it)', () => {
    const files = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
        entry.isDirectory() ? files(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
      );
    const branch = /(=|!)==\s*'(standard|diff2?)'|'(standard|diff2?)'\s*(=|!)==|case\s+'(standard|diff2?)'/;
    const found = files(join(REPO_ROOT, 'src'))
      .filter((file) => !file.includes(join('src', 'model', 'attention')))
      .flatMap((file) =>
        readFileSync(file, 'utf8')
          .split('\n')
          .flatMap((line, i) => (branch.test(line) ? [`${file}:${i + 1}: ${line.trim()}`] : [])),
      );
    assert.deepEqual(found, []);
  });
});
