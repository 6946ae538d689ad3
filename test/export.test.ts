import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import {
  CHECKPOINT_FORMAT,
  DIFFT_VERSION,
  loadModel,
  readCheckpoint,
  saveCheckpoint,
} from '../src/checkpoint/checkpoint.js';
import { readSafetensors } from '../src/checkpoint/safetensors.js';
import { resolveConfig } from '../src/config/load.js';
import type { Attention, ModelConfig } from '../src/config/model.js';
import { findPython } from '../bench/pytorch.js';
import { diffHeadOrder } from '../src/export/hf-attentions.js';
import { exportHf, ropeOrder } from '../src/export/hf.js';
import { importHf } from '../src/export/hf-import.js';
import { Decoder } from '../src/model/decoder.js';
import { createOptimizer } from '../src/train/step.js';
import { ABLATIONS } from './helpers/ablations.js';
import { REPO_ROOT } from './helpers/cli.js';
import { type HfConfig, hfForward } from './helpers/hf-reference.js';
import { engine, scrambleParameters, tinyConfig } from './helpers/setup.js';

/**
 * Export to transformers, checked against transformers' equations written again in float64
 * (test/helpers/hf-reference.ts): the exported weights must give difft's logits.
 */
const scratch = () => mkdtempSync(join(tmpdir(), 'difft-export-'));

before(() => engine('cpu'));

/** A checkpoint of a tiny model with every parameter (λ, norms, subln included) far from its initialisation. */
function scrambledCheckpoint(
  attention: Attention,
  kvHeads: number,
  tieEmbeddings: boolean,
  switches: Partial<ModelConfig> = {},
): { dir: string; model: Decoder } {
  const model = Decoder.create(
    tinyConfig({ attention, heads: 4, kvHeads, tieEmbeddings, seqLen: 8, vocabSize: 256, ...switches }), // byte vocab
    3,
  );
  scrambleParameters(model.params, 11);
  const optimizer = createOptimizer(model);
  const dir = join(scratch(), 'step-000001');
  const moments = optimizer.momentTensors();
  saveCheckpoint(
    dir,
    model,
    moments,
    {
      difftVersion: DIFFT_VERSION,
      format: CHECKPOINT_FORMAT,
      run: resolveConfig({ model: { attention, ...switches } }),
      model: model.config,
      tokenizer: { kind: 'byte' },
      dataset: { dir: 'none', key: 'none' },
    },
    {
      step: 1,
      tokens: 0,
      lr: 0,
      optimizerStep: 0,
      sampler: { seed: 0, rng: 0, batches: 0 },
      elapsedSeconds: 0,
      engine: 'cpu',
    },
  );
  tf.dispose(moments);
  optimizer.dispose();
  return { dir, model };
}

describe('difft export --format hf', () => {
  it('permutations: rotate_half order and DiffLlama head halves, by hand', () => {
    assert.deepEqual(ropeOrder(6), [0, 2, 4, 1, 3, 5]);
    assert.deepEqual(diffHeadOrder(4), [0, 2, 1, 3]);
    assert.deepEqual(diffHeadOrder(6), [0, 2, 4, 1, 3, 5]);
  });

  // the last of each: a head width of its own (model.headDim 6 in a width of 16), transformers' head_dim
  const cases: [Attention, number, boolean, Partial<ModelConfig>?][] = [
    ['standard', 4, true],
    ['standard', 2, false],
    ['standard', 2, true, { headDim: 6 }],
    ['diff', 4, true],
    ['diff', 2, false],
    ['diff', 2, true, { headDim: 6 }],
  ];
  const named = (switches?: Partial<ModelConfig>) => (switches ? `, headDim ${switches.headDim}` : '');
  // what Llama and DiffLlama cannot express: diff2, and every ablation switch but the head width
  const REMOTE_CASES: [Attention, number, boolean, Partial<ModelConfig>?][] = [
    ['diff2', 4, true],
    ['diff2', 2, false],
    ...ABLATIONS.filter(({ config }) => config.attention === 'diff2' || !config.headDim || config.headNorm).map(
      ({ config }): [Attention, number, boolean, Partial<ModelConfig>] => [
        config.attention!,
        config.kvHeads ?? 4,
        true,
        config,
      ],
    ),
  ];
  for (const [attention, kvHeads, tied, switches] of cases) {
    it(`${attention}, ${kvHeads === 4 ? 'multi-head' : 'grouped-query (kvHeads 2)'}, ${tied ? 'tied' : 'untied'}${named(switches)}: transformers' equations on the export give difft's logits (1e-5 relative)`, () => {
      const { dir, model } = scrambledCheckpoint(attention, kvHeads, tied, switches);
      const out = join(scratch(), 'hf');
      const result = exportHf(dir, out);
      assert.equal(result.architecture, attention === 'diff' ? 'DiffLlamaForCausalLM' : 'LlamaForCausalLM');
      const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as HfConfig & {
        architectures: string[];
        vocab_size: number;
      };
      assert.equal(config.model_type, attention === 'diff' ? 'diffllama' : 'llama');
      assert.equal(config.num_key_value_heads, kvHeads);
      const { tensors } = readSafetensors(join(out, 'model.safetensors'));
      assert.equal('lm_head.weight' in tensors, !tied);
      const tokens = [3, 1, 4, 1, 5, 9, 2, 6];
      const expected = tf.tidy(() => model.forward(tf.tensor2d([tokens], undefined, 'int32')).logits.arraySync()[0]);
      const got = hfForward(config, tensors, tokens);
      const scale = Math.max(...expected.flat().map(Math.abs));
      const error = Math.max(...got.flat().map((value, i) => Math.abs(value - expected.flat()[i])));
      assert.ok(error / scale < 1e-5, `relative error ${error / scale}`);
      model.dispose();
    });
  }

  for (const [attention, kvHeads, tied, switches] of cases) {
    it(`${attention}, kvHeads ${kvHeads}, ${tied ? 'tied' : 'untied'}${named(switches)}: difft import of the export gives back difft's logits`, () => {
      const { dir, model } = scrambledCheckpoint(attention, kvHeads, tied, switches);
      const out = join(scratch(), 'hf');
      exportHf(dir, out);
      const back = importHf(out, join(scratch(), 'back'));
      const imported = loadModel(readCheckpoint(back.checkpoint));
      assert.deepEqual(imported.config, model.config);
      const tokens = tf.tensor2d([[3, 1, 4, 1, 5, 9, 2, 6]], undefined, 'int32');
      const [original, again] = tf.tidy(() => [
        model.forward(tokens).logits.dataSync(),
        imported.forward(tokens).logits.dataSync(),
      ]);
      if (attention === 'standard')
        assert.deepEqual(Array.from(again), Array.from(original), 'a permutation there and back: the same bits');
      else {
        // diff: subln's weight comes back folded into out_proj (subln = 1): equal up to float32 rounding
        const scale = Math.max(...Array.from(original, Math.abs));
        assert.ok(Math.max(...Array.from(again, (v, i) => Math.abs(v - original[i]))) / scale < 1e-6);
      }
      tokens.dispose();
      imported.dispose();
      model.dispose();
    });
  }

  it('difft import reads back the exports with their own modeling code: the same model config, the same bits', () => {
    for (const [attention, kvHeads, tied, switches] of REMOTE_CASES) {
      const { dir, model } = scrambledCheckpoint(attention, kvHeads, tied, switches);
      const out = join(scratch(), 'hf');
      exportHf(dir, out);
      const back = importHf(out, join(scratch(), 'back'));
      const imported = loadModel(readCheckpoint(back.checkpoint));
      assert.deepEqual(imported.config, model.config);
      const tokens = tf.tensor2d([[3, 1, 4, 1, 5, 9, 2, 6]], undefined, 'int32');
      const [original, again] = tf.tidy(() => [
        model.forward(tokens).logits.dataSync(),
        imported.forward(tokens).logits.dataSync(),
      ]);
      assert.deepEqual(Array.from(again), Array.from(original), 'the weights as stored, there and back');
      tokens.dispose();
      imported.dispose();
      model.dispose();
    }
  });

  it('import refuses what difft cannot hold, naming the key', () => {
    const { dir, model } = scrambledCheckpoint('standard', 4, true);
    model.dispose();
    const out = join(scratch(), 'hf');
    exportHf(dir, out);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    const write = (changes: Record<string, unknown>) =>
      writeFileSync(join(out, 'config.json'), JSON.stringify({ ...config, ...changes }));
    write({ architectures: ['MistralForCausalLM'] });
    assert.throws(
      () => importHf(out, join(scratch(), 'x')),
      /architectures \["MistralForCausalLM"\]: difft imports LlamaForCausalLM/,
    );
    write({ rope_scaling: { rope_type: 'llama3' } });
    assert.throws(() => importHf(out, join(scratch(), 'x')), /rope_scaling is set/);
    // a SwiGLU width the 8/3·D rule does not give is held as model.ffnHidden (and refused by the weights' shapes)
    write({ intermediate_size: 7 });
    assert.throws(
      () => importHf(out, join(scratch(), 'x')),
      /model\.safetensors: tensor layers\.0\.ffn\.gate_proj\.weight has shape \[48,16\], the config needs \[16,7\]/,
    );
    write({ intermediate_size: config.intermediate_size });
    write({ difft: undefined });
    // no difft section: the tokenizer files say which tokenizer it is; without them, --tokenizer must
    const fromFiles = importHf(out, join(scratch(), 'x'));
    assert.deepEqual(readCheckpoint(fromFiles.checkpoint).config.tokenizer, { kind: 'byte' });
    rmSync(join(out, 'tokenizer.json'));
    assert.throws(() => importHf(out, join(scratch(), 'x')), /its tokenizer is none difft holds .*--tokenizer/);
    assert.ok(importHf(out, join(scratch(), 'x'), { tokenizer: 'byte' }).checkpoint);
    // a tokenizer whose ids reach past the embedding, or one that cannot be named without its merges
    assert.throws(
      () => importHf(out, join(scratch(), 'x'), { tokenizer: 'gpt2' }),
      /tokenizer gpt2 has 50257 tokens, more than the model's vocabulary of \d+: name the tokenizer/,
    );
    assert.throws(
      () => importHf(out, join(scratch(), 'x'), { tokenizer: 'bpe:512' }),
      /--tokenizer bpe:512 needs the merges it was trained with/,
    );
  });

  // transformers itself, when a Python with torch and transformers is at hand (CI installs one from the
  // machine's wheel index when it can): the export loaded by AutoModelForCausalLM gives difft's logits.
  // Every case's export goes to one Python process (starting torch takes seconds).
  describe("transformers' own classes", () => {
    const python = findPython(['torch', 'transformers']);
    const tokens = [3, 1, 4, 1, 5, 9, 2, 6];
    const exports: { out: string; expected: number[][] }[] = [];
    let results: Record<string, { class: string; logits: number[][] }> = {};
    before(() => {
      if (!python) return;
      for (const [attention, kvHeads, tied, switches] of [...cases, ...REMOTE_CASES]) {
        const { dir, model } = scrambledCheckpoint(attention, kvHeads, tied, switches);
        const out = join(scratch(), 'hf');
        exportHf(dir, out);
        const input = tf.tensor2d([tokens], undefined, 'int32');
        exports.push({ out, expected: tf.tidy(() => model.forward(input).logits.arraySync()[0]) });
        input.dispose();
        model.dispose();
      }
      const script = join(REPO_ROOT, 'scripts/hf-logits.py');
      const run = spawnSync(python, [script, JSON.stringify(tokens), ...exports.map((e) => e.out)], {
        encoding: 'utf8',
      });
      assert.equal(run.status, 0, run.stderr);
      results = JSON.parse(run.stdout);
    });
    cases.forEach(([attention, kvHeads, tied, switches], index) => {
      it(`${attention}, kvHeads ${kvHeads}, ${tied ? 'tied' : 'untied'}${named(switches)}: transformers' own ${attention === 'diff' ? 'DiffLlama' : 'Llama'} on the export gives difft's logits (1e-5 relative)`, {
        skip: python ? false : 'no Python with torch and transformers here (set DIFFT_HF_PYTHON)',
      }, () => {
        const { out, expected } = exports[index];
        const result = results[out];
        assert.equal(result.class, attention === 'diff' ? 'DiffLlamaForCausalLM' : 'LlamaForCausalLM');
        const scale = Math.max(...expected.flat().map(Math.abs));
        const error = Math.max(...result.logits.flat().map((value, i) => Math.abs(value - expected.flat()[i])));
        console.log(`transformers ${result.class}: max relative difference ${(error / scale).toExponential(2)}`);
        assert.ok(error / scale < 1e-5, `relative error ${error / scale}`);
      });
    });
    REMOTE_CASES.forEach(([attention, kvHeads, tied, switches], index) => {
      const label = switches ? ABLATIONS.find((a) => a.config === switches)?.label : undefined;
      it(`${label ?? `${attention}, kvHeads ${kvHeads}, ${tied ? 'tied' : 'untied'}`}: the export's own modeling code (trust_remote_code) gives difft's logits (1e-5 relative)`, {
        skip: python ? false : 'no Python with torch and transformers here (set DIFFT_HF_PYTHON)',
      }, () => {
        const { out, expected } = exports[cases.length + index];
        const result = results[out];
        assert.equal(result.class, 'DifftForCausalLM');
        const scale = Math.max(...expected.flat().map(Math.abs));
        const error = Math.max(...result.logits.flat().map((value, i) => Math.abs(value - expected.flat()[i])));
        assert.ok(error / scale < 1e-5, `relative error ${error / scale}`);
      });
    });
  });

  it('every other switch, and diff2, export with their own modeling code: DifftForCausalLM, auto_map, the .py files', () => {
    for (const [attention, kvHeads, tied, switches] of REMOTE_CASES) {
      const { dir, model } = scrambledCheckpoint(attention, kvHeads, tied, switches);
      model.dispose();
      const out = join(scratch(), 'hf');
      const result = exportHf(dir, out);
      assert.equal(result.architecture, 'DifftForCausalLM');
      const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
      assert.equal(config.model_type, 'difft');
      assert.deepEqual(config.auto_map, {
        AutoConfig: 'configuration_difft.DifftConfig',
        AutoModelForCausalLM: 'modeling_difft.DifftForCausalLM',
      });
      assert.equal(config.attention, attention);
      for (const file of ['configuration_difft.py', 'modeling_difft.py', 'README.md'])
        assert.ok(readFileSync(join(out, file), 'utf8').length > 0, file);
      assert.match(readFileSync(join(out, 'README.md'), 'utf8'), /trust_remote_code=True/);
    }
  });

  it("writes a model card in the Hub's format: front matter, architecture, training, the evaluation at its step", () => {
    const { dir, model } = scrambledCheckpoint('diff', 4, true);
    model.dispose();
    // the run's metrics beside the checkpoint: an evaluation at its step, another at an earlier one
    const evalRecord = (step: number, valLoss: number) => ({
      type: 'eval',
      step,
      tokens: 64 * step,
      valLoss,
      valPerplexity: Math.exp(valLoss),
      valBitsPerByte: valLoss / Math.LN2,
      evalTokens: 1000,
      elapsedSeconds: 1,
    });
    const records = [evalRecord(0, 5.5), evalRecord(1, 2.5)];
    writeFileSync(join(dir, '..', 'metrics.jsonl'), records.map((r) => `${JSON.stringify(r)}\n`).join(''));
    const out = join(scratch(), 'hf');
    exportHf(dir, out);
    const card = readFileSync(join(out, 'README.md'), 'utf8');
    assert.match(card, /^---\nlibrary_name: transformers\npipeline_tag: text-generation\n/);
    assert.match(card, /\| attention \| diff \|/);
    assert.match(card, /\| 2\.5000 \| 12\.182 \| 3\.6067 \|/); // e^2.5 = 12.182, 2.5 / ln 2 = 3.6067
    assert.match(card, /AutoModelForCausalLM\.from_pretrained\("path\/to\/this\/directory"\)/);
    // the Hub's own reader, where Python has it (huggingface_hub comes with transformers)
    const python = findPython(['huggingface_hub']);
    if (!python) return;
    const read = spawnSync(
      python,
      [
        '-c',
        'import json,sys; from huggingface_hub import ModelCard; print(json.dumps(ModelCard.load(sys.argv[1]).data.to_dict()))',
        join(out, 'README.md'),
      ],
      { encoding: 'utf8' },
    );
    assert.equal(read.status, 0, read.stderr);
    const data = JSON.parse(read.stdout) as { library_name: string; pipeline_tag: string; tags: string[] };
    assert.equal(data.library_name, 'transformers');
    assert.equal(data.pipeline_tag, 'text-generation');
    assert.ok(data.tags.includes('diff'));
  });
});
