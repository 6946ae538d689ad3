/**
 * npm run bench:data [-- --megabytes 2100 --tokenizer byte --steps 200 --backend auto --format txt|parquet]
 * Memory on a large corpus. Generates a text file (or a Parquet file of 1 MB row groups with a `text`
 * column, documents of about 10 kB) of the given size, prepares it (byte tokens: one
 * per byte, so 2,100 MB of text is 2.1 G tokens), then trains the default model on it for `steps`
 * steps in a child process — and, for scale, the same model on the small Brown corpus. Prints time
 * and peak RSS of each part: preparing streams, and training reads its windows from the shards, so
 * neither grows with the corpus.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { fileWriter, ParquetWriter } from 'hyparquet-writer';
import { loadConfig } from '../src/config/load.js';
import { prepareDataset } from '../src/data/prepare.js';
import { train } from '../src/train/loop.js';

const { values } = parseArgs({
  options: {
    megabytes: { type: 'string', default: '2100' },
    tokenizer: { type: 'string', default: 'byte' },
    steps: { type: 'string', default: '200' },
    backend: { type: 'string', default: 'auto' },
    format: { type: 'string', default: 'txt' },
    'train-child': { type: 'string' },
    corpus: { type: 'string' },
    'data-dir': { type: 'string' },
  },
});
const peakMiB = () => process.resourceUsage().maxRSS / 1024;

if (values['train-child']) {
  // the child: train the default model on one corpus, print its own peak RSS
  const out = values['train-child'];
  const config = loadConfig('default', [
    `data.corpus=[${values.corpus}]`,
    `data.tokenizer=${values.tokenizer}`,
    `data.dir=${values['data-dir']}`,
    `train.steps=${values.steps}`,
    `train.backend=${values.backend}`,
    'eval.every=0',
    'eval.maxTokens=16384',
    'output.saveEvery=0',
  ]);
  const started = performance.now();
  await train({ config, out });
  process.stdout.write(`${JSON.stringify({ seconds: (performance.now() - started) / 1000, peakMiB: peakMiB() })}\n`);
  process.exit(0);
}

const megabytes = Number(values.megabytes);
const dir = mkdtempSync(join(tmpdir(), 'difft-bench-data-'));
try {
  const file = join(dir, `corpus.${values.format}`);
  if (values.format === 'parquet') await writeParquetCorpus(file, megabytes);
  else writeCorpus(file, megabytes);
  const rssBefore = peakMiB();
  const started = performance.now();
  const { manifest } = await prepareDataset({
    sources: [file],
    tokenizer: values.tokenizer!,
    dataRoot: join(dir, 'data'),
  });
  const seconds = (performance.now() - started) / 1000;
  const tokens = manifest.splits.train.tokens + manifest.splits.val.tokens;
  process.stdout.write(
    `prepare: ${megabytes} MB of text (${values.format}) with ${values.tokenizer}: ${tokens.toLocaleString('en-US')} tokens (${manifest.dtype}) in ${seconds.toFixed(1)} s ` +
      `(${(megabytes / seconds).toFixed(1)} MB/s); peak RSS ${peakMiB().toFixed(0)} MiB (${rssBefore.toFixed(0)} MiB before preparing)\n`,
  );
  const large = trainInChild(file, join(dir, 'data'), join(dir, 'run-large'));
  const small = trainInChild('brown', join(dir, 'data'), join(dir, 'run-brown'));
  process.stdout.write(
    `train: ${values.steps} steps of the default model on the ${(manifest.splits.train.tokens / 1e9).toFixed(2)} G-token split: ${large.seconds.toFixed(1)} s, peak RSS ${large.peakMiB.toFixed(0)} MiB\n` +
      `train: the same on the Brown corpus (about 6 M tokens): ${small.seconds.toFixed(1)} s, peak RSS ${small.peakMiB.toFixed(0)} MiB — the corpus adds ${(large.peakMiB - small.peakMiB).toFixed(0)} MiB\n`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}

function trainInChild(corpus: string, dataDir: string, out: string): { seconds: number; peakMiB: number } {
  const script = fileURLToPath(import.meta.url);
  const args = [
    script,
    '--train-child',
    out,
    '--corpus',
    corpus,
    '--data-dir',
    dataDir,
    '--tokenizer',
    values.tokenizer!,
    '--steps',
    values.steps!,
    '--backend',
    values.backend!,
  ];
  const child = spawnSync(process.execPath, args, { encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`training on ${corpus} failed: ${child.stderr.trim().split('\n').pop()}`);
  return JSON.parse(child.stdout.trim().split('\n').pop()!);
}

/** Generated text, 1 MB of lines at a time: words drawn by a linear congruential generator. */
function* corpusChunks(megabytes: number): Generator<string[]> {
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
  let state = 1;
  for (let written = 0; written < megabytes * 1e6; ) {
    const lines: string[] = [];
    for (let size = 0; size < 1e6; ) {
      const line: string[] = [];
      for (let i = 0; i < 14; i++) {
        state = (state * 1103515245 + 12345) >>> 0;
        line.push(words[state % words.length]);
      }
      const text = `${line.join(' ')}.\n`;
      lines.push(text);
      size += text.length;
    }
    written += Buffer.byteLength(lines.join(''));
    yield lines;
  }
}

function writeCorpus(path: string, megabytes: number): void {
  const fd = openSync(path, 'w');
  try {
    for (const lines of corpusChunks(megabytes)) writeSync(fd, lines.join(''));
  } finally {
    closeSync(fd);
  }
}

/** The same text as a Parquet file: one row group per megabyte, a document of about 100 lines per row. */
async function writeParquetCorpus(path: string, megabytes: number): Promise<void> {
  const writer = new ParquetWriter({
    writer: fileWriter(path),
    schema: [
      { name: 'root', num_children: 1 },
      { name: 'text', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
    ],
  });
  for (const lines of corpusChunks(megabytes)) {
    const documents: string[] = [];
    for (let i = 0; i < lines.length; i += 100) documents.push(lines.slice(i, i + 100).join(''));
    writer.write({ columnData: [{ name: 'text', data: documents }], rowGroupSize: documents.length });
  }
  await writer.finish();
}
