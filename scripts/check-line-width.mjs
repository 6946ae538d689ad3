#!/usr/bin/env node
/**
 * No line of src/ over 120 columns (characters, as an editor counts them). Biome's formatter wraps
 * code at that width but leaves long strings and comments alone; this catches those. Run by
 * `npm run lint`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WIDTH = 120;

function filesUnder(dir) {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

const long = filesUnder('src').flatMap((path) =>
  readFileSync(join(ROOT, path), 'utf8')
    .split('\n')
    .flatMap((line, index) => ([...line].length > WIDTH ? [`${path}:${index + 1}: ${[...line].length} columns`] : [])),
);
for (const line of long) console.error(`${line} (at most ${WIDTH})`);
if (long.length) process.exit(1);
