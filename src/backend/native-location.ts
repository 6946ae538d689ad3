import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

/**
 * Where `difft setup tensorflow` keeps the native engine: `<root>/.difft/engines/node_modules/…`,
 * beside (not inside) the node_modules that npm manages, so that a later `npm install` or `npm ci`
 * does not prune it. Its copy of @tensorflow/tfjs is removed, so that tfjs-node resolves difft's own
 * (`<root>/node_modules/@tensorflow/tfjs`, an ancestor's node_modules) and registers its backend in
 * the same tfjs engine difft runs on.
 */

export type NativePackage = '@tensorflow/tfjs-node' | '@tensorflow/tfjs-node-gpu';

/** The directory whose node_modules holds the @tensorflow/tfjs difft runs on. */
export function installRoot(): string {
  const tfjsManifest = createRequire(import.meta.url).resolve('@tensorflow/tfjs/package.json');
  return resolve(dirname(tfjsManifest), '..', '..', '..');
}

export function enginesDir(root = installRoot()): string {
  return join(root, '.difft', 'engines');
}

/**
 * What to import for a native package: the copy `difft setup` made when there is one, else the
 * package name (a user may have installed it the ordinary way).
 */
export function nativeEntry(pkg: NativePackage, root = installRoot()): string {
  const managed = join(enginesDir(root), 'node_modules', pkg, 'dist', 'index.js');
  return existsSync(managed) ? managed : pkg;
}
