/**
 * npm run bench:data [-- --megabytes 200 --tokenizer byte]
 * Generates a text file of the given size, prepares it, and prints the time, throughput and the
 * process's peak RSS: preparing streams, so the peak stays far below the size of the text.
 */
import { mkdtempSync, rmSync, writeSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { prepareDataset } from '../src/data/prepare.js';

const { values } = parseArgs({ options: { megabytes: { type: 'string', default: '200' }, tokenizer: { type: 'string', default: 'byte' } } });
const megabytes = Number(values.megabytes);
const dir = mkdtempSync(join(tmpdir(), 'difft-bench-data-'));
const file = join(dir, 'corpus.txt');
const words = [
  'the',
  'differential',
  'attention',
  'cancels',
  'noise',
  'between',
  'two',
  'softmax',
  'maps',
  'and',
  'keeps',
  'signal',
  'of',
  'relevant',
  'context',
  'é',
  '東京',
  '🚀',
];
const fd = openSync(file, 'w');
let state = 1;
let written = 0;
while (written < megabytes * 1e6) {
  const line: string[] = [];
  for (let i = 0; i < 14; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    line.push(words[state % words.length]);
  }
  written += writeSync(fd, `${line.join(' ')}.\n`);
}
closeSync(fd);

const rssBefore = process.resourceUsage().maxRSS / 1024;
const started = performance.now();
const { manifest } = await prepareDataset({ sources: [file], tokenizer: values.tokenizer!, out: join(dir, 'dataset') });
const seconds = (performance.now() - started) / 1000;
const peak = process.resourceUsage().maxRSS / 1024;
const tokens = manifest.splits.train.tokens + manifest.splits.val.tokens;
process.stdout.write(
  `prepared ${(written / 1e6).toFixed(0)} MB of text with ${values.tokenizer}: ${tokens.toLocaleString('en-US')} tokens in ${seconds.toFixed(1)} s ` +
    `(${(written / 1e6 / seconds).toFixed(1)} MB/s); peak RSS ${peak.toFixed(0)} MiB (${rssBefore.toFixed(0)} MiB before preparing)\n`,
);
rmSync(dir, { recursive: true, force: true });
