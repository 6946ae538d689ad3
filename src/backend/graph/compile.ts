import type * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadedNativeEntry } from '../engines.js';
import { type NativeBackend, nativeBackend } from './native.js';
import { savedModelBytes } from './saved-model.js';
import { type Trace, traceGraph } from './trace.js';
import { withScratchDirectory } from '../../scratch.js';

/**
 * Whole functions of tensors as one program, where the engine has programs.
 *
 * On `tensorflow`, running a training step op by op costs ~2,000 eager kernel launches, each paying
 * TensorFlow's per-op dispatch and a fresh allocation (measured, baby model: forward and backward
 * 98-120 ms eagerly). The same ops as one graph run in a TensorFlow session, which plans memory once,
 * reuses buffers in place and runs independent ops side by side: 29-36 ms. So on that engine the
 * function is traced once per input signature (see trace.ts) and from then on executed as a graph.
 * On every other engine the function simply runs.
 *
 * A program takes and returns named records of tensors. The function must be pure: its results
 * depend only on its inputs and on tensors that stay unchanged while the program lives (a model's
 * constant tables). Parameters and optimizer state are inputs, and results are new tensors the
 * caller adopts. JavaScript numbers inside it are frozen into the program, so whatever changes
 * between calls (learning rate, step count) is an input too.
 *
 * What this relies on of @tensorflow/tfjs-node 4.22.0 that is not its public API (native.ts names
 * each piece): the backend's `binding` (executeOp, createTensor, deleteTensor, loadSavedModel,
 * runSavedModel, deleteSavedModel, TF_ATTR_*), which trace.ts swaps for a recording one for one
 * call; the backend's getInputTensorIds, createOutputTensor and getDTypeInteger; and the protobuf
 * classes tfjs-node ships for SavedModels (saved-model.ts). A tfjs-node that changes them makes
 * compilation fail, and every program falls back to running op by op with a warning (or fails
 * under DIFFT_GRAPH=strict, as CI runs).
 *
 * DIFFT_GRAPH=off runs op by op on every engine (for comparisons); DIFFT_GRAPH=strict makes a
 * function that cannot be compiled an error instead of a warning and a fallback.
 */
export type Tensors = Record<string, tf.Tensor>;

export interface Program<In extends Tensors, Out extends Tensors> {
  (inputs: In): Out;
  /** How the last call ran: 'graph' (one TensorFlow session run) or 'eager' (op by op). */
  readonly lastRun: 'graph' | 'eager' | undefined;
  /** Releases the programs (TensorFlow sessions and the tensors they keep alive). */
  dispose(): void;
}

/** The positional form the tracer and TensorFlow sessions work with. */
type TensorFunction = (inputs: tf.Tensor[]) => tf.Tensor[];

type GraphMode = 'on' | 'off' | 'strict';

function graphMode(): GraphMode {
  const value = (process.env.DIFFT_GRAPH ?? 'on').toLowerCase();
  if (value === 'off' || value === '0' || value === 'false') return 'off';
  return value === 'strict' ? 'strict' : 'on';
}

/**
 * DIFFT_GRAPH_DUMP=DIR keeps each program as DIR/<label>-<n>/saved_model.pb with feeds.json (the
 * placeholder and fetch names), for reading or profiling it with TensorFlow's own tools.
 */
function dumpProgram(root: string, label: string, bytes: Uint8Array, trace: Trace): void {
  const stem = label.replace(/[^A-Za-z0-9]+/g, '-');
  let dir = '';
  for (let n = 0; !dir || existsSync(dir); n++) dir = join(root, `${stem}-${n}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'saved_model.pb'), bytes);
  const feeds = { inputs: trace.inputNames, captured: trace.captured.map((c) => c.name), outputs: trace.outputNames };
  writeFileSync(join(dir, 'feeds.json'), `${JSON.stringify(feeds, null, 2)}\n`);
}

/** One traced graph loaded into a TensorFlow session. */
class GraphProgram {
  private readonly session: number;
  private readonly feeds: string;
  private readonly fetches: string;

  constructor(
    private readonly backend: NativeBackend,
    private readonly trace: Trace,
    /** The keys of the function's result, in the order of the trace's outputs. */
    readonly outputKeys: string[],
    label: string,
  ) {
    // the session holds the graph once loaded; the file is not read again
    this.session = withScratchDirectory('graph', (dir) => {
      const bytes = savedModelBytes(trace, backend.binding, loadedNativeEntry() ?? '@tensorflow/tfjs-node');
      writeFileSync(join(dir, 'saved_model.pb'), bytes);
      if (process.env.DIFFT_GRAPH_DUMP) dumpProgram(process.env.DIFFT_GRAPH_DUMP, label, bytes, trace);
      return backend.binding.loadSavedModel(dir, 'serve');
    });
    this.feeds = [...trace.inputNames, ...trace.captured.map((c) => c.name)].join(',');
    this.fetches = trace.outputNames.join(',');
  }

  run(inputs: tf.Tensor[]): tf.Tensor[] {
    const ids = [...this.backend.getInputTensorIds(inputs), ...this.trace.captured.map((c) => c.keepId)];
    return this.backend.binding
      .runSavedModel(this.session, ids, this.feeds, this.fetches)
      .map((meta) => this.backend.createOutputTensor(meta));
  }

  dispose(): void {
    this.backend.binding.deleteSavedModel(this.session);
    for (const { keepId } of this.trace.captured) this.backend.binding.deleteTensor(keepId);
  }
}

/** Input names, dtypes and shapes: one program per signature. */
function signature(inputs: Tensors): string {
  return Object.entries(inputs)
    .map(([name, t]) => `${name}:${t.dtype}[${t.shape.join(',')}]`)
    .join(' ');
}

/** Whether programs run as graphs on the engine in use (else each call runs its function op by op). */
export function programsCompile(): boolean {
  return graphMode() !== 'off' && nativeBackend() !== undefined;
}

/**
 * `label` names the function in the warning shown if it cannot be compiled. `variables` are the
 * tensors the function reads through its closure that change between calls (a model's parameters):
 * the program feeds them itself at every call, under their names, because a tensor the function
 * reads that is not an input is frozen into the graph at its value when traced.
 */
export function compileProgram<In extends Tensors, Out extends Tensors>(
  label: string,
  fn: (inputs: In) => Out,
  variables: Tensors = {},
): Program<In, Out> {
  const programs = new Map<string, GraphProgram | 'eager'>();
  let lastRun: Program<In, Out>['lastRun'];

  const programFor = (backend: NativeBackend, inputs: Tensors): GraphProgram | 'eager' => {
    const key = signature(inputs);
    let program = programs.get(key);
    if (program === undefined) {
      const inputKeys = Object.keys(inputs);
      let outputKeys: string[] = [];
      const positional: TensorFunction = (list) => {
        const result = fn(Object.fromEntries(inputKeys.map((name, i) => [name, list[i]])) as In);
        outputKeys = Object.keys(result);
        return outputKeys.map((name) => result[name]);
      };
      let trace: Trace | undefined;
      try {
        trace = traceGraph(backend, positional, Object.values(inputs));
        program = new GraphProgram(backend, trace, outputKeys, label);
      } catch (error) {
        for (const { keepId } of trace?.captured ?? []) backend.binding.deleteTensor(keepId);
        if (graphMode() === 'strict') throw error;
        const reason = (error instanceof Error ? error.message : String(error)).split('\n')[0];
        process.emitWarning(
          `${label} runs op by op on the tensorflow engine: it could not be compiled into a graph (${reason})`,
        );
        program = 'eager';
      }
      programs.set(key, program);
    }
    return program;
  };

  const run = (given: In): Out => {
    const inputs = { ...given, ...variables };
    const backend = graphMode() === 'off' ? undefined : nativeBackend();
    const program = backend ? programFor(backend, inputs) : 'eager';
    lastRun = program === 'eager' ? 'eager' : 'graph';
    if (program === 'eager') return fn(inputs as In);
    const outputs = program.run(Object.values(inputs));
    return Object.fromEntries(program.outputKeys.map((name, i) => [name, outputs[i]])) as Out;
  };
  Object.defineProperty(run, 'lastRun', { get: () => lastRun });
  Object.defineProperty(run, 'dispose', {
    value: () => {
      for (const program of programs.values()) if (program !== 'eager') program.dispose();
      programs.clear();
    },
  });
  return run as Program<In, Out>;
}
