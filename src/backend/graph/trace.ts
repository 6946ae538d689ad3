import * as tf from '@tensorflow/tfjs';
import type { NativeBackend, NativeBinding, OpAttr } from './native.js';

/**
 * Records a function of tensors as a TensorFlow graph while it runs eagerly on tfjs-node.
 *
 * Every tfjs kernel on tfjs-node ends in one call to the binding: `executeOp(name, attrs, inputs)`
 * runs a TensorFlow op and returns ids of its outputs, and `createTensor` turns JavaScript values
 * into a TensorFlow tensor. For the duration of the call the backend's binding is swapped for one
 * that runs each call as usual and also writes it down as a graph node, so the graph holds exactly
 * the ops (names and attributes) tfjs asked TensorFlow for — forward, the gradient tape's backward
 * pass and anything else — with no second description of the model to keep in step.
 *
 * Where a node's input comes from:
 * - a declared input → a Placeholder, fed each run;
 * - an op recorded earlier → that node's output;
 * - a tensor created from JavaScript values during the call → a Const node holding those values;
 * - any other tensor that existed before the call (a model's RoPE tables, a mask) → "captured": a
 *   Placeholder fed each run with that same tensor, kept alive for as long as the graph is. A
 *   captured tfjs Variable is refused: its value changes between runs, so it must be an input.
 * Values a kernel reads back into JavaScript during the call (tfjs-node's gather checks its indices
 * that way) do not shape the graph; a function whose ops depend on data read back cannot be traced,
 * and the tests compare every compiled program with eager execution on other inputs than the traced ones.
 */

export interface GraphNode {
  name: string;
  op: string;
  /** "node:output" of each input, in the order the op takes them. */
  inputs: string[];
  attrs: OpAttr[];
  /** For Const nodes: the tensor's TensorFlow dtype, shape and raw little-endian bytes. */
  constant?: { dtype: number; shape: number[]; bytes: Uint8Array };
  /** For Placeholders: the dtype fed. */
  dtype?: number;
}

export interface Trace {
  nodes: GraphNode[];
  /** Placeholder names ("input_0:0", …) of the declared inputs, in order. */
  inputNames: string[];
  /**
   * Tensors the function read that existed before it ran: the placeholder each feeds, and an id that keeps the tensor
   * alive.
   */
  captured: { name: string; keepId: number }[];
  /** "node:output" of each result, in the order the function returned them. */
  outputNames: string[];
}

/**
 * Type attributes tfjs-node leaves out because eager execution infers them from the inputs, which a
 * graph does not: op → [attribute, index of the input whose dtype it is].
 */
const INFERRED_TYPE_ATTRS: Record<string, [string, number][]> = {
  ExpandDims: [
    ['T', 0],
    ['Tdim', 1],
  ],
};

/** A placeholder's static shape: TensorFlow plans memory and picks kernels knowing it. */
function shapeAttr(binding: NativeBinding, shape: number[]): OpAttr {
  return { name: 'shape', type: binding.TF_ATTR_SHAPE, value: [...shape] };
}

/**
 * Binding ids of the tensors that back tfjs Variables now: what a graph must never freeze. Asking for
 * the ids also moves into TensorFlow any variable whose values were still in JavaScript, which would
 * otherwise enter the graph as a constant.
 */
function variableIds(backend: NativeBackend): Map<number, string> {
  const variables = Object.values(tf.engine().registeredVariables);
  const ids = backend.getInputTensorIds(variables);
  return new Map(variables.map((variable, i) => [ids[i], variable.name]));
}

/**
 * Runs `fn(inputs)` (inside tf.tidy) and returns its graph. The eager results are disposed: callers
 * run the graph, so that every result they see comes from the same program.
 */
export function traceGraph(
  backend: NativeBackend,
  fn: (inputs: tf.Tensor[]) => tf.Tensor[],
  inputs: tf.Tensor[],
): Trace {
  const real = backend.binding;
  const nodes: GraphNode[] = [];
  const source = new Map<number, string>(); // binding id → "node:output"
  const dtypes = new Map<string, number>(); // "node:output" → TensorFlow dtype
  const inputIds = backend.getInputTensorIds(inputs);
  const inputNames = inputs.map((input, i) => {
    const name = `input_${i}`;
    nodes.push({
      name,
      op: 'Placeholder',
      inputs: [],
      attrs: [shapeAttr(real, input.shape)],
      dtype: backend.getDTypeInteger(input.dtype),
    });
    source.set(inputIds[i], `${name}:0`);
    dtypes.set(`${name}:0`, backend.getDTypeInteger(input.dtype));
    return `${name}:0`;
  });
  const variables = variableIds(backend);
  const captured: Trace['captured'] = [];

  const sourceOf = (id: number): string => {
    const known = source.get(id);
    if (known) return known;
    const variable = variables.get(id);
    if (variable !== undefined)
      throw new Error(`the traced function reads variable ${variable}, which is not one of its inputs`);
    // an Identity shares the tensor's buffer under a new id, so the graph keeps it alive; TensorFlow infers its dtype
    const [keep] = real.executeOp('Identity', [], [id], 1);
    const name = `captured_${captured.length}`;
    nodes.push({ name, op: 'Placeholder', inputs: [], attrs: [shapeAttr(real, keep.shape)], dtype: keep.dtype });
    captured.push({ name: `${name}:0`, keepId: keep.id });
    source.set(id, `${name}:0`);
    dtypes.set(`${name}:0`, keep.dtype);
    return `${name}:0`;
  };

  const recording: NativeBinding = Object.create(null);
  for (const key of Object.getOwnPropertyNames(real) as (keyof NativeBinding)[]) {
    const value = real[key];
    Object.defineProperty(recording, key, {
      value: typeof value === 'function' ? value.bind(real) : value,
      configurable: true,
    });
  }
  Object.defineProperty(recording, 'executeOp', {
    value: (op: string, attrs: OpAttr[], ids: number[], outputs: number) => {
      const inputs = ids.map(sourceOf);
      const missing = (INFERRED_TYPE_ATTRS[op] ?? []).filter(([name]) => !attrs.some((attr) => attr.name === name));
      const inferred = missing.map(([name, index]) => ({
        name,
        type: real.TF_ATTR_TYPE,
        value: dtypes.get(inputs[index]) ?? 0,
      }));
      const node: GraphNode = { name: `op_${nodes.length}`, op, inputs, attrs: [...attrs, ...inferred] };
      const results = real.executeOp(op, attrs, ids, outputs);
      nodes.push(node);
      results.forEach((meta, j) => {
        source.set(meta.id, `${node.name}:${j}`);
        dtypes.set(`${node.name}:${j}`, meta.dtype);
      });
      return results;
    },
  });
  Object.defineProperty(recording, 'createTensor', {
    value: (shape: number[], dtype: number, values: ArrayBufferView) => {
      const id = real.createTensor(shape, dtype, values);
      const bytes = new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
      const node: GraphNode = {
        name: `const_${nodes.length}`,
        op: 'Const',
        inputs: [],
        attrs: [],
        constant: { dtype, shape: [...shape], bytes },
      };
      nodes.push(node);
      source.set(id, `${node.name}:0`);
      dtypes.set(`${node.name}:0`, dtype);
      return id;
    },
  });

  backend.binding = recording;
  try {
    const outputNames = tf.tidy(() => {
      const outputs = fn(inputs);
      return backend.getInputTensorIds(outputs).map(sourceOf);
    });
    return { nodes, inputNames, captured, outputNames };
  } catch (error) {
    for (const { keepId } of captured) real.deleteTensor(keepId);
    throw error;
  } finally {
    backend.binding = real;
  }
}
