import type { EngineChoice, EngineRequest } from '../backend/engines.js';
import { exportHf, type HfExport } from '../export/hf.js';
import { type ImportOptions as HfImportOptions, importHf } from '../export/hf-import.js';
import { UserError } from '../errors.js';
import { engineFor } from './engine.js';

export interface ExportOptions {
  /** The directory to write: new, empty, or an earlier export (replaced). */
  out: string;
  /** hf: a Hugging Face transformers directory (the only format, and the default). */
  format?: 'hf';
}

/**
 * Writes a checkpoint as a transformers directory (what `difft export` does): Llama or DiffLlama where
 * they express the model, otherwise with its own modeling code; tokenizer files and a model card.
 */
export function exportModel(checkpoint: string, options: ExportOptions): HfExport {
  const format = options.format ?? 'hf';
  if (format !== 'hf') throw new UserError(`format ${format}: unknown format; use hf (Hugging Face transformers)`);
  return exportHf(checkpoint, options.out);
}

export interface ImportOptions extends HfImportOptions {
  /** The run directory to write, new or empty (its checkpoint: <out>/step-000000). */
  out: string;
  backend?: EngineRequest;
  onEngine?: (choice: EngineChoice) => void;
}

/** Reads a transformers directory (difft's exports, Llama, DiffLlama) into a difft checkpoint. */
export async function importModel(
  dir: string,
  options: ImportOptions,
): Promise<{ checkpoint: string; attention: string }> {
  const { out, backend, onEngine, ...rest } = options;
  await engineFor(backend, onEngine);
  return importHf(dir, out, rest);
}
