import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { findPython } from '../bench/pytorch.js';
import { readCheckpoint } from '../src/checkpoint/checkpoint.js';
import { prepareDataset } from '../src/data/prepare.js';
import { checkTokenizerName, createTokenizer } from '../src/data/tokenizer.js';
import { UserError } from '../src/errors.js';
import { difft, REPO_ROOT } from './helpers/cli.js';

/**
 * `bpe:N`: trained on the training split by tokenizers, exactly N entries, exact round trips, reused
 * when the corpus is unchanged and retrained when it changes; a model trains on it and exports it.
 */
const scratch = () => mkdtempSync(join(tmpdir(), 'difft-bpe-'));

/** A corpus of a few thousand distinct words (syllables combined, frequencies skewed), accents and CJK: ~150 kB. */
function corpus(seed = 1): string {
  const syllables = [
    'ka',
    'ro',
    'mi',
    'tan',
    'lé',
    'gü',
    'ßo',
    '東',
    '京',
    'di',
    'ff',
    'at',
    'ten',
    'tion',
    'no',
    'ise',
  ];
  let state = seed;
  const next = () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state >>> 8; // the low bits of a power-of-two LCG cycle quickly
  };
  const word = () => {
    let text = '';
    const length = 1 + (next() % 4);
    for (let i = 0; i < length; i++) text += syllables[Math.min(next() % 16, next() % 16)]; // skewed to the first
    return text;
  };
  const lines: string[] = [];
  for (let line = 0; line < 3000; line++) lines.push(`${Array.from({ length: 8 }, word).join(' ')}.`);
  return `${lines.join('\n')}\n`;
}

async function prepare(file: string, tokenizer: string, out = join(scratch(), 'data')) {
  return prepareDataset({ sources: [file], tokenizer, out });
}

describe('bpe:N, a byte-level BPE trained on the corpus', () => {
  it('bpe:512 has exactly 512 entries and round-trips any text exactly, unseen characters included', async () => {
    const file = join(scratch(), 'corpus.txt');
    writeFileSync(file, corpus());
    const { manifest, dir } = await prepare(file, 'bpe:512');
    assert.equal(manifest.vocabSize, 512);
    const json = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
    assert.equal(Object.keys(json.model.vocab).length + json.added_tokens.length, 512);
    const tokenizer = createTokenizer(manifest.tokenizer);
    try {
      assert.equal(tokenizer.vocabSize, 512);
      assert.equal(tokenizer.endOfText, 511);
      for (const text of [
        'café naïve Grüße 東京 λ map',
        'never seen: 🚀 Ångström ½ \u0000 \t',
        corpus(7).slice(0, 2000),
      ]) {
        const ids = tokenizer.encode(text);
        assert.equal(tokenizer.decode(ids), text);
        assert.ok(Array.from(ids).every((id) => id < 511));
      }
      // it learned the corpus: a frequent syllable pair is one token, and text is shorter than in bytes
      assert.equal(tokenizer.encode(' kaka').length, 1);
      const sample = corpus(3);
      assert.ok(tokenizer.encode(sample).length < Buffer.byteLength(sample) / 2);
    } finally {
      tokenizer.free();
    }
  });

  it('reused when the corpus is unchanged, retrained when it changes', async () => {
    const file = join(scratch(), 'corpus.txt');
    writeFileSync(file, corpus(1));
    const out = join(scratch(), 'data');
    const first = await prepare(file, 'bpe:300', out);
    const again = await prepare(file, 'bpe:300', out);
    assert.equal(again.reused, true);
    assert.deepEqual(again.manifest.tokenizer, first.manifest.tokenizer);
    writeFileSync(file, corpus(2));
    const changed = await prepare(file, 'bpe:300', out);
    assert.equal(changed.reused, false);
    assert.notDeepEqual(changed.manifest.tokenizer, first.manifest.tokenizer);
  });

  it('a corpus too small for N is refused, naming the largest N it allows', async () => {
    const file = join(scratch(), 'small.txt');
    writeFileSync(file, corpus().slice(0, 30000));
    await assert.rejects(prepare(file, 'bpe:20000'), (error: Error) => {
      assert.ok(error instanceof UserError);
      assert.match(error.message, /gives only \d+ merges, enough for bpe:\d+ at most/);
      return true;
    });
    assert.throws(() => checkTokenizerName('bpe:100'), /tokenizer bpe:100: N must be from 258 to 30000/);
  });

  const python = findPython(['transformers']);
  it('a model trains on bpe:400 and exports it: AutoTokenizer gives the ids difft trained with', () => {
    const dir = scratch();
    const file = join(dir, 'corpus.txt');
    writeFileSync(file, corpus());
    const run = join(dir, 'run');
    const trained = difft([
      'train',
      '--config',
      join(REPO_ROOT, 'configs/tiny.yaml'),
      '--out',
      run,
      '--set',
      `data.corpus=[${file}]`,
      '--set',
      'data.tokenizer=bpe:400',
      '--set',
      `data.dir=${join(dir, 'data')}`,
      '--set',
      'model.attention=standard',
      '--set',
      'train.steps=4',
      '--backend',
      'cpu',
    ]);
    assert.equal(trained.status, 0, trained.stderr);
    const spec = readCheckpoint(run).config.tokenizer;
    assert.equal(spec.kind === 'bpe' && spec.vocabSize, 400);
    const exported = join(dir, 'exported');
    assert.equal(difft(['export', run, '--out', exported]).status, 0);
    const back = difft(['import', exported, '--out', join(dir, 'back'), '--backend', 'cpu']);
    assert.equal(back.status, 0, back.stderr);
    assert.deepEqual(readCheckpoint(join(dir, 'back')).config.tokenizer, spec);
    if (!python) return; // the AutoTokenizer half needs transformers (CI has it)
    const text = 'kaka rotan lé 東京 🚀 never seen.';
    const hf = spawnSync(python, [join(REPO_ROOT, 'scripts/hf-tokenize.py'), exported, text], { encoding: 'utf8' });
    assert.equal(hf.status, 0, hf.stderr);
    const tokenizer = createTokenizer(spec);
    try {
      assert.deepEqual(JSON.parse(hf.stdout.trim().split('\n').pop()!).ids, Array.from(tokenizer.encode(text)));
    } finally {
      tokenizer.free();
    }
  });
});
