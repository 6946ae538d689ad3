import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { prepareDataset } from '../src/data/prepare.js';
import { UserError } from '../src/errors.js';

/**
 * Corpora in the field's formats: the same text as .txt, .txt.gz, .jsonl, .jsonl.gz and .parquet
 * prepares to identical token shards; a damaged .gz or Parquet file is named in one line.
 */
const scratch = () => mkdtempSync(join(tmpdir(), 'difft-corpora-'));

// documents with non-ASCII text, long enough for a validation split (20+ sections of 1 KiB)
const documents = Array.from(
  { length: 40 },
  (_, i) =>
    `Document ${i}: naïve café, Grüße aus 東京, ${'the quick brown fox jumps over the lazy dog. '.repeat(12)}\n`,
);

function parquet(texts: string[], column = 'text', rowGroupSize = 7): Buffer {
  const buffer = parquetWriteBuffer({ columnData: [{ name: column, data: texts, type: 'STRING' }], rowGroupSize });
  return Buffer.from(buffer);
}

/** The token shards' hashes and counts of a corpus file prepared with the byte tokenizer. */
async function tokensOf(file: string, extra: { textField?: string } = {}) {
  const { manifest } = await prepareDataset({
    sources: [file],
    tokenizer: 'byte',
    out: join(scratch(), 'data'),
    onBadFile: 'stop',
    ...extra,
  });
  const { train, val } = manifest.splits;
  return { train: [train.tokens, train.sha256], val: [val.tokens, val.sha256] };
}

describe('corpora: gzip and Parquet', () => {
  it('one text as .txt, .txt.gz, .jsonl, .jsonl.gz and .parquet: identical token shards', async () => {
    const dir = scratch();
    const text = documents.join('');
    const jsonl = `${JSON.stringify({ text })}\n`;
    const files: Record<string, Buffer | string> = {
      'corpus.txt': text,
      'corpus.txt.gz': gzipSync(text),
      'corpus.jsonl': jsonl,
      'corpus.jsonl.gz': gzipSync(jsonl),
      'corpus.parquet': parquet([text]),
    };
    const results = [];
    for (const [name, content] of Object.entries(files)) {
      writeFileSync(join(dir, name), content);
      results.push([name, await tokensOf(join(dir, name))] as const);
    }
    for (const [name, tokens] of results.slice(1)) assert.deepEqual(tokens, results[0][1], name);
    assert.ok((results[0][1].train[0] as number) > 10_000);
  });

  it('many records as .jsonl, .jsonl.gz and a Parquet file of several row groups (another column name)', async () => {
    const dir = scratch();
    const jsonl = documents.map((text) => `${JSON.stringify({ content: text })}\n`).join('');
    writeFileSync(join(dir, 'records.jsonl'), jsonl);
    writeFileSync(join(dir, 'records.jsonl.gz'), gzipSync(jsonl));
    writeFileSync(join(dir, 'records.parquet'), parquet(documents, 'content', 7)); // 6 row groups
    const reference = await tokensOf(join(dir, 'records.jsonl'), { textField: 'content' });
    assert.deepEqual(await tokensOf(join(dir, 'records.jsonl.gz'), { textField: 'content' }), reference);
    assert.deepEqual(await tokensOf(join(dir, 'records.parquet'), { textField: 'content' }), reference);
    await assert.rejects(
      tokensOf(join(dir, 'records.parquet')),
      /no column "text" \(columns: content\); choose it with --text-field/,
    );
  });

  it('a damaged .gz or Parquet file is named in one line (stop), or skipped with a warning (skip)', async () => {
    const dir = scratch();
    const text = documents.join('');
    const whole = gzipSync(text);
    const cases: [string, Buffer, RegExp][] = [
      [
        'not-gzip.txt.gz',
        Buffer.from('this is not gzip at all'),
        /not-gzip\.txt\.gz: not a valid gzip file \(incorrect header check\)/,
      ],
      ['cut.txt.gz', whole.subarray(0, whole.length >> 1), /cut\.txt\.gz: a gzip file cut short/],
      ['broken.parquet', Buffer.from('PAR1 not really parquet PAR1'), /broken\.parquet: not a Parquet file/],
    ];
    for (const [name, bytes, message] of cases) {
      writeFileSync(join(dir, name), bytes);
      await assert.rejects(tokensOf(join(dir, name)), (error: Error) => {
        assert.ok(error instanceof UserError, error.message);
        assert.match(error.message, message);
        assert.equal(error.message.split('\n').length, 1);
        return true;
      });
    }
    const warnings: string[] = [];
    writeFileSync(join(dir, 'good.txt'), text);
    await prepareDataset({
      sources: [join(dir, 'good.txt'), join(dir, 'cut.txt.gz')],
      tokenizer: 'byte',
      out: join(scratch(), 'data'),
      onWarning: (line) => warnings.push(line),
    });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /skipping .*cut\.txt\.gz: a gzip file cut short/);
  });

  it('1,000 records without text: three named, the rest counted in one line (Parquet and JSONL)', async () => {
    const dir = scratch();
    const empty = Array.from({ length: 1000 }, () => null);
    writeFileSync(join(dir, 'nulls.parquet'), parquet([...documents, ...(empty as unknown as string[])]));
    writeFileSync(
      join(dir, 'nulls.jsonl'),
      [...documents, ...empty].map((text) => `${JSON.stringify({ text })}\n`).join(''),
    );
    for (const name of ['nulls.parquet', 'nulls.jsonl']) {
      const warnings: string[] = [];
      await prepareDataset({
        sources: [join(dir, name)],
        tokenizer: 'byte',
        out: join(scratch(), 'data'),
        onWarning: (line) => warnings.push(line),
      });
      assert.equal(warnings.length, 4, warnings.join('\n'));
      assert.match(warnings[0], new RegExp(`skipping .*${name}:(row )?\\d+: not a`));
      assert.match(warnings[3], new RegExp(`skipping 997 more records of .*${name} like these`));
    }
  });
});
