import type { Command } from 'commander';
import { UserError } from '../errors.js';
import { exportHf } from '../export/hf.js';
import { action } from './run.js';

interface ExportFlags {
  format: string;
  out: string;
}

export function exportCommand(program: Command): void {
  program
    .command('export')
    .description("write a checkpoint in another framework's format: hf = a Hugging Face transformers directory (LlamaForCausalLM for standard, DiffLlamaForCausalLM for diff)")
    .argument('<checkpoint>', 'a checkpoint directory, or a run directory (its newest checkpoint)')
    .option('-f, --format <name>', 'hf', 'hf')
    .requiredOption('-o, --out <dir>', 'the directory to write (config.json, model.safetensors, generation_config.json)')
    .addHelpText(
      'after',
      "\nThe export equals the checkpoint to the logit: rotary rows reordered for rotate_half, diff's head pairs for\nDiffLlama's halves, the per-head norm weight folded into o_proj. The optimizer state is not exported.\n\nExample:\n  $ difft export checkpoints/default-20261124-170000 --format hf --out exported/default\n  $ python -c \"from transformers import AutoModelForCausalLM; AutoModelForCausalLM.from_pretrained('exported/default')\"",
    )
    .action(
      action((path: string, flags: ExportFlags) => {
        if (flags.format !== 'hf') throw new UserError(`--format ${flags.format}: unknown format; use hf (Hugging Face transformers)`);
        const result = exportHf(path, flags.out);
        process.stdout.write(`exported ${result.architecture} (${result.tensors} tensors) to ${result.dir}\n`);
      }),
    );
}
