import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs';

/**
 * Kernels difft adds to (or replaces in) the wasm engine so that it trains, and trains fast.
 * Model code never branches on the engine: every fix lives here, registered by kernel name.
 * Measured on tfjs-backend-wasm 4.22: it lacks UnsortedSegmentSum (the gradient of `gather`), and its
 * transposed matrix products run at a tenth of the plain product's speed.
 */

/** The slice of the wasm backend's API these kernels use (it is not exported as a type). */
interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: object): boolean;
  incRef(dataId: object): void;
}

let registered = false;

export function registerWasmKernels(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel(unsortedSegmentSumConfig);
  registerFastBatchMatMul();
  registerFastSplit();
  registerSharedIdentity();
}

/**
 * wasm's Identity copies its input. tfjs calls it for every tensor the gradient tape keeps for the
 * backward pass (514 times in a baby training step: 16 ms of 269). Tensors are immutable and wasm's
 * Reshape already shares memory the same way, so the copy shares the input's memory instead,
 * counted by reference.
 */
function registerSharedIdentity(): void {
  replaceKernel('Identity', (copy) => (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    if (x.dtype === 'string') return copy(args);
    (args.backend as unknown as WasmBackend).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  });
}

/**
 * wasm's SplitV and Unpack (`tf.split`, `tf.unstack`) copy element by element in JavaScript with index
 * arithmetic per entry: splitting the optimizer's flat vector of 0.8 M entries took 64 ms, unstacking
 * the [12, 2, 2, 64, 64] pair of attention maps 80 ms. Both are the same copy: for every index before
 * the axis, each piece takes one contiguous block of `size · inner` entries. These kernels copy those
 * blocks with typed-array operations instead (0.3 ms for the attention maps).
 */
function registerFastSplit(): void {
  replaceKernel('SplitV', () => (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { numOrSizeSplits, axis } = args.attrs as unknown as { numOrSizeSplits: number | number[]; axis: number };
    const dim = tf.util.parseAxisParam(axis, x.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(x as unknown as tf.Tensor, numOrSizeSplits, dim);
    return copyPieces(args.backend as unknown as WasmBackend, x, dim, sizes, (size) =>
      x.shape.map((n, i) => (i === dim ? size : n)),
    );
  });
  replaceKernel('Unpack', () => (args) => {
    const { value } = args.inputs as { value: TensorInfo };
    const dim = tf.util.parseAxisParam((args.attrs as unknown as { axis: number }).axis, value.shape)[0];
    const shape = value.shape.filter((_, i) => i !== dim);
    return copyPieces(
      args.backend as unknown as WasmBackend,
      value,
      dim,
      new Array(value.shape[dim]).fill(1),
      () => shape,
    );
  });
}

/** Replaces wasm's kernel `name` by `build(its own kernel function)`, keeping its setup. */
function replaceKernel(name: string, build: (original: KernelFunc) => KernelFunc): void {
  const original = tf.getKernel(name, 'wasm');
  if (!original) return;
  tf.unregisterKernel(name, 'wasm');
  tf.registerKernel({ ...original, kernelFunc: build(original.kernelFunc as KernelFunc) });
}

/** x cut along `dim` into pieces of `sizes` entries on that axis, each a new output of `shapeOf(size)`. */
function copyPieces(
  wasm: WasmBackend,
  x: TensorInfo,
  dim: number,
  sizes: number[],
  shapeOf: (size: number) => number[],
): TensorInfo[] {
  const outer = tf.util.sizeFromShape(x.shape.slice(0, dim));
  const inner = tf.util.sizeFromShape(x.shape.slice(dim + 1));
  const stride = x.shape[dim] * inner; // entries from one outer index to the next
  const outputs = sizes.map((size) => wasm.makeOutput(shapeOf(size), x.dtype));
  // views are taken after allocating: a growing heap detaches older ones
  const source = wasm.typedArrayFromHeap(x);
  let start = 0;
  outputs.forEach((out, k) => {
    const block = sizes[k] * inner;
    const target = wasm.typedArrayFromHeap(out);
    if (outer === 1) {
      target.set(source.subarray(start, start + block) as never);
    } else if (block >= 64) {
      for (let o = 0; o < outer; o++)
        target.set(source.subarray(o * stride + start, o * stride + start + block) as never, o * block);
    } else {
      // short blocks (pairs on the last axis): a plain loop beats a view per block
      for (let o = 0; o < outer; o++)
        for (let j = 0; j < block; j++) target[o * block + j] = source[o * stride + start + j];
    }
    start += block;
  });
  return outputs;
}

/** out[segmentIds[i]] += x[i] over the first axis: the gradient of an embedding lookup. */
const unsortedSegmentSumConfig: KernelConfig = {
  kernelName: 'UnsortedSegmentSum',
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
    const numSegments = (attrs as unknown as { numSegments: number }).numSegments;
    const wasm = backend as unknown as WasmBackend;
    const rows = x.shape[0];
    const rowSize = rows === 0 ? 0 : tf.util.sizeFromShape(x.shape) / rows;
    const out = wasm.makeOutput([numSegments, ...x.shape.slice(1)], x.dtype);
    // Views are taken after makeOutput: allocating may grow the wasm heap and detach older views.
    const values = wasm.typedArrayFromHeap(x);
    const ids = wasm.typedArrayFromHeap(segmentIds);
    const result = wasm.typedArrayFromHeap(out);
    result.fill(0);
    for (let row = 0; row < rows; row++) {
      const segment = ids[row];
      if (segment < 0 || segment >= numSegments) continue;
      const from = row * rowSize;
      const to = segment * rowSize;
      for (let j = 0; j < rowSize; j++) result[to + j] += values[from + j];
    }
    return out;
  },
};

/**
 * XNNPACK's product is fast only for one plain row-major pair of matrices (measured here: [24,64,32]·[24,32,64] batched
 * takes 2.9 ms, the same 24 products one by one 0.6 ms).
 * So: transposed operands are transposed explicitly (a rank-3 Transpose is fast, rank 5 is not),
 * and a batch of products runs as one 2-D product per batch entry, on views into the operands'
 * memory, each written into its slice of the output.
 */
interface WasmInternals extends WasmBackend {
  dataIdMap: { get(dataId: object): { id: number; memoryOffset: number }; delete(dataId: object): void };
  wasm: { tfjs: { disposeData(id: number): void } };
}

function registerFastBatchMatMul(): void {
  const transposeKernel = tf.getKernel('Transpose', 'wasm');
  if (!transposeKernel) return;
  const transposeFn = transposeKernel.kernelFunc as KernelFunc;
  const noTranspose = { transposeA: false, transposeB: false } as unknown as NamedAttrMap;

  replaceKernel('BatchMatMul', (plainProduct) => ({ inputs, backend, attrs }) => {
    const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const wasm = backend as unknown as WasmInternals;
    // [batch, rows, cols] views of the operands (same data, no copy), transposed when asked.
    const as3d = (x: TensorInfo, transpose: boolean): TensorInfo => {
      const rank = x.shape.length;
      const view = { ...x, shape: [tf.util.sizeFromShape(x.shape.slice(0, -2)), x.shape[rank - 2], x.shape[rank - 1]] };
      if (!transpose) return view;
      return transposeFn({
        inputs: { x: view },
        backend,
        attrs: { perm: [0, 2, 1] } as unknown as NamedAttrMap,
      }) as TensorInfo;
    };
    const left = as3d(a, transposeA);
    const right = as3d(b, transposeB);
    const [, rows, inner] = left.shape;
    const cols = right.shape[2];
    // Batch axes broadcast numpy-style (tfjs's contract): entry i of the output reads entry
    // entryOf(i) of each operand.
    const batchShapeA = a.shape.slice(0, -2);
    const batchShapeB = b.shape.slice(0, -2);
    const batchShape = tf.backend_util.assertAndGetBroadcastShape(batchShapeA, batchShapeB);
    const batch = tf.util.sizeFromShape(batchShape);
    const entryOfA = broadcastEntries(batchShape, batchShapeA);
    const entryOfB = broadcastEntries(batchShape, batchShapeB);
    const outShape = [...batchShape, rows, cols];

    let out: TensorInfo;
    if (batch === 1) {
      out = plainProduct({ inputs: { a: left, b: right }, backend, attrs: noTranspose }) as TensorInfo;
    } else {
      out = wasm.makeOutput([batch, rows, cols], 'float32');
      const offsetOf = (x: TensorInfo) => wasm.dataIdMap.get(x.dataId).memoryOffset;
      const view = (x: TensorInfo, index: number, shape: number[]) =>
        (wasm as unknown as { makeOutput(s: number[], d: string, offset: number): TensorInfo }).makeOutput(
          shape,
          'float32',
          offsetOf(x) + index * shape[0] * shape[1] * 4,
        );
      const forget = (x: TensorInfo) => {
        // a view owns no memory: unregister it without freeing
        wasm.wasm.tfjs.disposeData(wasm.dataIdMap.get(x.dataId).id);
        wasm.dataIdMap.delete(x.dataId);
      };
      for (let i = 0; i < batch; i++) {
        const leftView = view(left, entryOfA(i), [rows, inner]);
        const rightView = view(right, entryOfB(i), [inner, cols]);
        const product = plainProduct({
          inputs: { a: leftView, b: rightView },
          backend,
          attrs: noTranspose,
        }) as TensorInfo;
        // views are taken after allocating: a growing heap detaches older ones
        (wasm.typedArrayFromHeap(out) as Float32Array).set(
          wasm.typedArrayFromHeap(product) as Float32Array,
          i * rows * cols,
        );
        wasm.disposeData(product.dataId);
        forget(leftView);
        forget(rightView);
      }
    }
    if (left.dataId !== a.dataId) wasm.disposeData(left.dataId);
    if (right.dataId !== b.dataId) wasm.disposeData(right.dataId);
    return { ...out, shape: outShape };
  });
}

/**
 * For an output batch of shape `outShape` broadcast from an operand's batch shape `shape`, maps the
 * flat index of an output entry to the flat index of the operand entry it reads (axes of size 1,
 * and missing leading axes, repeat).
 */
export function broadcastEntries(outShape: number[], shape: number[]): (index: number) => number {
  const padded = [...Array(outShape.length - shape.length).fill(1), ...shape];
  if (tf.util.sizeFromShape(padded) === tf.util.sizeFromShape(outShape)) return (index) => index;
  return (index) => {
    let entry = 0;
    let stride = 1;
    for (let axis = outShape.length - 1; axis >= 0; axis--) {
      const position = index % outShape[axis];
      index = Math.floor(index / outShape[axis]);
      if (padded[axis] !== 1) entry += position * stride;
      stride *= padded[axis];
    }
    return entry;
  };
}
