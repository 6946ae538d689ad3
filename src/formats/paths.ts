import { join } from 'node:path';

/** The path function of a format's file table: `(dir, 'weights')` → `dir/model.safetensors`. */
export function filesIn<Files extends Record<string, string>>(
  files: Files,
): (dir: string, file: keyof Files) => string {
  return (dir, file) => join(dir, files[file]);
}
