import type { Command } from 'commander';
import { UserError } from '../errors.js';
import type { EngineRequest } from '../backend/engines.js';
import { exportModel, importModel } from '../api/export.js';
import { positiveInteger } from './eval.js';
import { action } from './run.js';
import { EXPORT_FILES } from '../formats/export.js';

interface ExportFlags {
  format: string;
  out: string;
}

export function exportCommand(program: Command): void {
  program
    .command('export')
    .description(
      "write a checkpoint in another framework's format: hf = a Hugging Face transformers directory " +
        '(LlamaForCausalLM for standard, DiffLlamaForCausalLM for diff)',
    )
    .argument('<checkpoint>', 'a checkpoint directory, or a run directory (its newest checkpoint)')
    .option('-f, --format <name>', 'hf', 'hf')
    .requiredOption(
      '-o, --out <dir>',
      `the directory to write (${EXPORT_FILES.config}, ${EXPORT_FILES.weights}, ${EXPORT_FILES.generation}, ` +
        `tokenizer files): new, empty, ` +
        'or an earlier export, which is replaced',
    )
    .addHelpText(
      'after',
      [
        '',
        "The export equals the checkpoint to the logit: rotary rows reordered for rotate_half, diff's head pairs for",
        "DiffLlama's halves, the per-head norm weight folded into o_proj. The optimizer state is not exported.",
        '',
        'Example:',
        '  $ difft export checkpoints/default-20261124-170000 --format hf --out exported/default',
        '  $ python -c "from transformers import AutoModelForCausalLM; ' +
          "AutoModelForCausalLM.from_pretrained('exported/default')\"",
      ].join('\n'),
    )
    .action(
      action((path: string, flags: ExportFlags) => {
        if (flags.format !== 'hf')
          throw new UserError(`--format ${flags.format}: unknown format; use hf (Hugging Face transformers)`);
        const result = exportModel(path, { out: flags.out });
        process.stdout.write(`exported ${result.architecture} (${result.tensors} tensors) to ${result.dir}\n`);
      }),
    );
}

interface ImportFlags {
  out: string;
  tokenizer?: string;
  seqLen?: string;
  backend: string;
  skipMemoryCheck?: boolean;
}

export function importCommand(program: Command): void {
  program
    .command('import')
    .description(
      'read a Hugging Face transformers LlamaForCausalLM or DiffLlamaForCausalLM directory (float32 safetensors) ' +
        'into a difft checkpoint',
    )
    .argument('<dir>', `a directory with ${EXPORT_FILES.config} and ${EXPORT_FILES.weights}`)
    .requiredOption('-o, --out <dir>', 'the run directory to write, new or empty (its checkpoint: <dir>/step-000000)')
    .option('--skip-memory-check', 'import even when the memory estimate exceeds what this machine has')
    .option(
      '--tokenizer <name>',
      'the tokenizer, for a directory difft did not write: gpt2, r50k_base, p50k_base, cl100k_base, o200k_base or byte',
    )
    .option('--seq-len <n>', 'context length to hold (default: max_position_embeddings)')
    .option('-b, --backend <name>', 'tfjs engine', 'auto')
    .addHelpText(
      'after',
      [
        '',
        'Example:',
        '  $ difft import exported/default --out checkpoints/back',
        '  $ difft eval checkpoints/back --corpus notes.txt',
      ].join('\n'),
    )
    .action(
      action(async (dir: string, flags: ImportFlags) => {
        const result = await importModel(dir, {
          out: flags.out,
          backend: flags.backend as EngineRequest,
          tokenizer: flags.tokenizer,
          seqLen: positiveInteger('--seq-len', flags.seqLen),
          skipMemoryCheck: flags.skipMemoryCheck,
        });
        process.stdout.write(`imported a ${result.attention} model: ${result.checkpoint}\n`);
      }),
    );
}
