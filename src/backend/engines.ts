import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { UserError } from '../errors.js';
import { nativeEntry, type NativePackage } from './native-location.js';
import { registerWasmKernels } from './wasm-kernels.js';

/** The engines difft can run on, best first: the order `auto` tries them in. */
export const ENGINE_NAMES = ['tensorflow', 'webgpu', 'wasm', 'cpu'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];
export type EngineRequest = EngineName | 'auto';

export interface EngineProbe {
  name: EngineName;
  available: boolean;
  /** What it is when available ("tfjs-node-gpu, CUDA"), or why not. */
  detail: string;
}

export interface EngineChoice {
  name: EngineName;
  detail: string;
  /** One line for the user: which engine runs and why the better ones were skipped. */
  summary: string;
}

const INSTALL_HINT: Record<EngineName, string> = {
  tensorflow: 'run `npx difft setup tensorflow` (add --gpu for an NVIDIA GPU); `difft setup --help` lists the routes',
  webgpu: 'needs the optional packages webgpu and @tensorflow/tfjs-backend-webgpu and a GPU adapter that Dawn can open',
  wasm: 'reinstall dependencies: npm install @tensorflow/tfjs-backend-wasm',
  cpu: 'reinstall dependencies: npm install @tensorflow/tfjs',
};

function message(error: unknown): string {
  if ((error as { code?: string })?.code === 'ERR_MODULE_NOT_FOUND') return 'not installed';
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0].slice(0, 160);
}

function nvidiaGpuVisible(): boolean {
  return existsSync('/proc/driver/nvidia/gpus') || existsSync('/dev/nvidia0');
}

/** Options that must be known before an engine loads. */
export interface EngineOptions {
  /**
   * CPU threads for the native engine's kernels (TensorFlow's intra-op pool; read when it first loads in a process);
   * default: see `nativeThreads`.
   */
  threads?: number;
  /** Floating-point operations of one training micro-batch (forward and backward), for that default. */
  stepFlops?: number;
}

/**
 * Work per intra-op thread below which splitting each op across threads costs more than it gains.
 * Measured on 2 cores with steps compiled to graphs (ms/step at 1 vs 2 threads): 4 GFLOP steps
 * 33-36 vs 39-40, 6 GFLOP 55 vs 62, 12 GFLOP 98 vs 103, 22 GFLOP 150 vs 141, 37 GFLOP 256 vs 240.
 * TensorFlow's inter-op pool keeps one thread per core either way, so independent ops of a graph
 * still run side by side (that is what makes one intra-op thread fast on small steps).
 */
const FLOPS_PER_THREAD = 8e9;

/**
 * The intra-op thread count: the caller's, else TF_NUM_INTRAOP_THREADS, else one per core for steps
 * large enough to share (see FLOPS_PER_THREAD), fewer for smaller ones.
 */
export function nativeThreads(options: EngineOptions): number {
  if (options.threads !== undefined) return options.threads;
  const fromEnvironment = Number(process.env.TF_NUM_INTRAOP_THREADS);
  if (fromEnvironment > 0) return fromEnvironment;
  const cores = availableParallelism();
  if (options.stepFlops === undefined) return cores;
  return Math.max(1, Math.min(cores, Math.floor(options.stepFlops / FLOPS_PER_THREAD)));
}

/**
 * TensorFlow reads its settings from the environment when the binding loads (its CPU device and
 * thread pools are made then, once per process). Kernel logs below warnings are off (they would
 * greet every run). The thread count is set for the load only and then put back, so that child
 * processes (compare's jobs, the bench's cases) choose their own.
 */
async function withNativeEnvironment<T>(options: EngineOptions, load: (threads: number) => Promise<T>): Promise<T> {
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  const previous = process.env.TF_NUM_INTRAOP_THREADS;
  const threads = nativeThreads(options);
  process.env.TF_NUM_INTRAOP_THREADS = String(threads);
  try {
    return await load(threads);
  } finally {
    if (previous === undefined) delete process.env.TF_NUM_INTRAOP_THREADS;
    else process.env.TF_NUM_INTRAOP_THREADS = previous;
  }
}

/**
 * Loads the native TensorFlow binding, once: tfjs-node-gpu when a GPU is visible, else tfjs-node,
 * each from where `difft setup tensorflow` put it (or wherever the user installed it).
 * Both register a backend named `tensorflow`, so only one may ever be imported into a process.
 */
let nativeLoad: Promise<EngineProbe> | undefined;
let nativeLoaded: string | undefined;

/** The file the native binding was imported from (absolute), once it loaded. */
export function loadedNativeEntry(): string | undefined {
  return nativeLoaded;
}

function loadNative(options: EngineOptions): Promise<EngineProbe> {
  nativeLoad ??= withNativeEnvironment(options, async (threads): Promise<EngineProbe> => {
    const reasons: string[] = [];
    const candidates: NativePackage[] = nvidiaGpuVisible()
      ? ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']
      : ['@tensorflow/tfjs-node'];
    if (!nvidiaGpuVisible()) reasons.push('no NVIDIA GPU visible, so tfjs-node-gpu was not tried');
    for (const pkg of candidates) {
      const entry = nativeEntry(pkg);
      try {
        await import(entry === pkg ? pkg : pathToFileURL(entry).href);
        nativeLoaded = entry === pkg ? createRequire(import.meta.url).resolve(pkg) : entry;
        const label = pkg.endsWith('-gpu')
          ? 'tfjs-node-gpu (CUDA)'
          : `tfjs-node (native CPU, ${threads} thread${threads === 1 ? '' : 's'})`;
        return { name: 'tensorflow', available: true, detail: label };
      } catch (error) {
        const why = message(error);
        reasons.push(`${pkg}: ${why === 'not installed' ? 'not installed (npx difft setup tensorflow)' : why}`);
      }
    }
    return { name: 'tensorflow', available: false, detail: reasons.join('; ') };
  });
  return nativeLoad;
}

/**
 * Asks Dawn for an adapter in a child process: where there is none, Dawn writes driver warnings
 * straight to stderr, which would otherwise greet every run on a machine without a GPU.
 */
function webgpuAdapterInChild(): { ok: boolean; detail: string } {
  const script = `
    try {
      const dawn = await import('webgpu');
      const adapter = await dawn.create([]).requestAdapter();
      const found = { ok: true, detail: 'Dawn (webgpu package)' };
      console.log(JSON.stringify(adapter ? found : { ok: false, detail: 'Dawn found no GPU adapter' }));
    } catch (error) {
      const reason = String(error.message).split('\\n')[0];
      console.log(JSON.stringify({ ok: false, detail: 'not loadable (' + reason + ')' }));
    }
    process.exit(0);`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: dirname(fileURLToPath(import.meta.url)),
    encoding: 'utf8',
    timeout: 20_000,
  });
  try {
    return JSON.parse(child.stdout.trim().split('\n').pop() ?? '');
  } catch {
    return { ok: false, detail: `adapter probe failed (${child.error?.message ?? `exit ${child.status}`})` };
  }
}

let webgpuLoad: Promise<EngineProbe> | undefined;
function loadWebgpu(): Promise<EngineProbe> {
  webgpuLoad ??= (async (): Promise<EngineProbe> => {
    const probe = webgpuAdapterInChild();
    if (!probe.ok) return { name: 'webgpu', available: false, detail: probe.detail };
    try {
      const dawn = (await import('webgpu' as string)) as { create: (flags: string[]) => unknown; globals?: object };
      if (dawn.globals) Object.assign(globalThis, dawn.globals);
      Object.defineProperty(globalThis, 'navigator', { value: { gpu: dawn.create([]) }, configurable: true });
      await import('@tensorflow/tfjs-backend-webgpu' as string);
      return { name: 'webgpu', available: true, detail: probe.detail };
    } catch (error) {
      return { name: 'webgpu', available: false, detail: `not loadable (${message(error)})` };
    }
  })();
  return webgpuLoad;
}

let wasmLoad: Promise<EngineProbe> | undefined;
function loadWasm(): Promise<EngineProbe> {
  wasmLoad ??= (async (): Promise<EngineProbe> => {
    try {
      await import('@tensorflow/tfjs-backend-wasm');
      registerWasmKernels();
      return { name: 'wasm', available: true, detail: 'XNNPACK, SIMD, single thread' };
    } catch (error) {
      return { name: 'wasm', available: false, detail: `not loadable (${message(error)})` };
    }
  })();
  return wasmLoad;
}

async function load(name: EngineName, options: EngineOptions = {}): Promise<EngineProbe> {
  switch (name) {
    case 'tensorflow':
      return loadNative(options);
    case 'webgpu':
      return loadWebgpu();
    case 'wasm':
      return loadWasm();
    case 'cpu':
      return { name: 'cpu', available: true, detail: 'plain JavaScript (reference)' };
  }
}

/** Makes `name` the active tfjs backend; returns why not when it fails. */
async function activate(probe: EngineProbe): Promise<EngineProbe> {
  if (!probe.available) return probe;
  try {
    const ok = await tf.setBackend(probe.name);
    if (!ok) return { ...probe, available: false, detail: `${probe.detail}: backend failed to initialise` };
    await tf.ready();
    // The cpu engine greets its first tensor with advice to install tfjs-node; `difft backends` says that better.
    if (probe.name === 'cpu') (tf.backend() as unknown as { firstUse: boolean }).firstUse = false;
    return probe;
  } catch (error) {
    return { ...probe, available: false, detail: `${probe.detail}: ${message(error)}` };
  }
}

/** Probes every engine without changing the active one (for `difft backends`). */
export async function listEngines(): Promise<EngineProbe[]> {
  const previous = tf.getBackend();
  const probes: EngineProbe[] = [];
  for (const name of ENGINE_NAMES) probes.push(await activate(await load(name)));
  if (previous) await tf.setBackend(previous);
  return probes;
}

/**
 * Chooses and initialises the engine. `auto` takes the first that works in ENGINE_NAMES order;
 * a named engine that cannot load is a UserError that says what to install.
 */
export async function useEngine(request: EngineRequest = 'auto', options: EngineOptions = {}): Promise<EngineChoice> {
  if (options.threads !== undefined && !(Number.isInteger(options.threads) && options.threads >= 1)) {
    throw new UserError(`threads must be a whole number ≥ 1, got ${options.threads}`);
  }
  if (request !== 'auto') {
    if (!ENGINE_NAMES.includes(request)) {
      throw new UserError(`unknown backend "${request}": use one of auto, ${ENGINE_NAMES.join(', ')}`);
    }
    const probe = await activate(await load(request, options));
    if (!probe.available) {
      throw new UserError(`backend "${request}" is not available: ${probe.detail}; ${INSTALL_HINT[request]}`);
    }
    return { name: probe.name, detail: probe.detail, summary: `engine: ${probe.name} (${probe.detail}), as asked` };
  }
  const skipped: string[] = [];
  for (const name of ENGINE_NAMES) {
    const probe = await activate(await load(name, options));
    if (probe.available) {
      const why = skipped.length ? `; skipped ${skipped.join('; ')}` : '';
      return { name, detail: probe.detail, summary: `engine: ${name} (${probe.detail})${why}` };
    }
    skipped.push(`${name}: ${probe.detail}`);
  }
  throw new Error('no tfjs backend could be initialised, not even cpu');
}
