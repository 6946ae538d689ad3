import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { findPython } from '../bench/pytorch.js';
import { TIKTOKEN_NAMES } from '../src/config/tokenizers.js';
import { createTokenizer, type TokenizerSpec } from '../src/data/tokenizer.js';
import { bytesToUnicode, hfTokenizerFiles, tokenizerFromHfFile } from '../src/data/tokenizer-json.js';
import { difft, REPO_ROOT } from './helpers/cli.js';

/**
 * Exports carry the tokenizer files transformers needs: AutoTokenizer gives difft's ids for every
 * tokenizer kind, a text-generation pipeline runs on an exported model, and import reads the files back.
 */
const scratch = () => mkdtempSync(join(tmpdir(), 'difft-export-tokenizer-'));
const TEXT = "Héllo, wörld! 東京 🚀  it's 12345 tokens\n\n  spaced   out.\tÅngström — naïve";

const specs: TokenizerSpec[] = [
  { kind: 'byte' },
  { kind: 'char', symbols: ['\uFFFD', ...new Set(Array.from('Hello, wrd!東京 its12345 tokens\n\tspacdut.'))] },
  ...TIKTOKEN_NAMES.map((name): TokenizerSpec => ({ kind: 'tiktoken', name })),
];
const label = (spec: TokenizerSpec) => (spec.kind === 'tiktoken' ? spec.name : spec.kind);

function writeTokenizerFiles(spec: TokenizerSpec): string {
  const dir = join(scratch(), label(spec));
  mkdirSync(dir);
  for (const [name, text] of Object.entries(hfTokenizerFiles(spec, 64))) writeFileSync(join(dir, name), text);
  return dir;
}

describe('transformers tokenizer files in exports', () => {
  it("bytes_to_unicode: GPT-2's table (printable bytes kept, the rest shifted past 255)", () => {
    const table = bytesToUnicode();
    assert.equal(table[33], '!');
    assert.equal(table[32], 'Ġ'); // space: the 33rd byte moved, 256 + 32
    assert.equal(table[10], 'Ċ'); // newline: 256 + 10
    assert.equal(table[255], 'ÿ');
    assert.equal(new Set(table).size, 256);
  });

  it('import recognises every tokenizer it wrote, from tokenizer.json alone', () => {
    for (const spec of specs) {
      const json = JSON.parse(hfTokenizerFiles(spec, 64)['tokenizer.json']);
      const expected =
        spec.kind === 'tiktoken' && spec.name === 'r50k_base' ? { kind: 'tiktoken', name: 'gpt2' } : spec;
      assert.deepEqual(tokenizerFromHfFile(json), expected, label(spec));
    }
  });

  const python = findPython(['transformers']);
  const skip = python ? false : 'no Python with transformers here (set DIFFT_HF_PYTHON)';
  // what AutoTokenizer made of every spec's files, from one Python process (importing transformers takes seconds)
  let seenBySpec: { ids: number[]; decoded: string }[] | undefined;
  const seenFor = (index: number) => {
    if (!seenBySpec) {
      const dirs = specs.map(writeTokenizerFiles);
      const run = spawnSync(python!, [join(REPO_ROOT, 'scripts/hf-tokenize.py'), ...dirs, TEXT], { encoding: 'utf8' });
      assert.equal(run.status, 0, run.stderr);
      seenBySpec = run.stdout
        .trim()
        .split('\n')
        .slice(-specs.length)
        .map((line) => JSON.parse(line));
    }
    return seenBySpec![index];
  };
  specs.forEach((spec, index) => {
    it(`${label(spec)}: AutoTokenizer gives difft's ids on a text with non-ASCII characters, and decodes it back`, {
      skip,
    }, () => {
      const seen = seenFor(index);
      const tokenizer = createTokenizer(spec);
      try {
        const ids = Array.from(tokenizer.encode(TEXT));
        assert.deepEqual(seen.ids, ids);
        assert.equal(seen.decoded, tokenizer.decode(ids));
      } finally {
        tokenizer.free();
      }
    });
  });

  const torch = findPython(['torch', 'transformers']);
  it('pipeline("text-generation") continues a prompt as difft does: a standard export, and a diff2 one with its own modeling code', {
    skip: torch ? false : 'no Python with torch and transformers here (set DIFFT_HF_PYTHON)',
  }, () => {
    const dir = scratch();
    const runs = ['standard', 'diff2'].map((attention) => {
      const run = join(dir, attention);
      const trained = difft([
        'train',
        '--config',
        join(REPO_ROOT, 'configs/tiny.yaml'),
        '--out',
        run,
        '--set',
        `data.dir=${join(dir, 'data')}`,
        '--set',
        `model.attention=${attention}`,
        '--set',
        'train.steps=30',
        '--set',
        'eval.every=0',
        '--backend',
        'wasm',
      ]);
      assert.equal(trained.status, 0, trained.stderr);
      const exported = join(dir, `${attention}-exported`);
      assert.equal(difft(['export', run, '--out', exported]).status, 0);
      assert.ok(readdirSync(exported).includes('tokenizer.json'));
      JSON.parse(readFileSync(join(exported, 'tokenizer_config.json'), 'utf8'));
      return { run, exported };
    });
    const generated = spawnSync(
      torch!,
      [join(REPO_ROOT, 'scripts/hf-generate.py'), 'The jury', '12', ...runs.map((r) => r.exported)],
      { encoding: 'utf8' },
    );
    assert.equal(generated.status, 0, generated.stderr);
    const texts = JSON.parse(generated.stdout.trim().split('\n').pop()!) as Record<string, string>;
    for (const { run, exported } of runs) {
      const ours = difft([
        'generate',
        run,
        '--prompt',
        'The jury',
        '-n',
        '12',
        '--temperature',
        '0',
        '--backend',
        'cpu',
      ]);
      assert.equal(ours.status, 0, ours.stderr);
      assert.equal(texts[exported], ours.stdout.replace(/\n$/, ''), run);
    }
  });
});
