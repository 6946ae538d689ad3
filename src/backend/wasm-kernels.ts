import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs';

/**
 * Kernels difft adds to (or replaces in) the wasm engine so that it trains, and trains fast.
 * Model code never branches on the engine: every fix lives here, registered by kernel name.
 * See FACTS.md: wasm 4.22 lacks UnsortedSegmentSum (the gradient of `gather`), and its
 * transposed matrix products run at a tenth of the plain product's speed.
 */

/** The slice of the wasm backend's API these kernels use (it is not exported as a type). */
interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: object): boolean;
}

let registered = false;

export function registerWasmKernels(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel(unsortedSegmentSumConfig);
  registerFastBatchMatMul();
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
 * XNNPACK's product is fast only for plain row-major operands. Every backward pass multiplies by
 * transposed operands (dY·Wᵀ, Xᵀ·dY), so we transpose explicitly (the Transpose kernel is fast)
 * and hand the plain product to the original kernel.
 */
function registerFastBatchMatMul(): void {
  const original = tf.getKernel('BatchMatMul', 'wasm');
  const transposeKernel = tf.getKernel('Transpose', 'wasm');
  if (!original || !transposeKernel) return;
  const plainProduct = original.kernelFunc as KernelFunc;
  const transposeFn = transposeKernel.kernelFunc as KernelFunc;

  const swapLastTwo = (info: TensorInfo, backend: object): TensorInfo => {
    const rank = info.shape.length;
    const perm = [...Array(rank).keys()];
    [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
    return transposeFn({ inputs: { x: info }, backend, attrs: { perm } as unknown as NamedAttrMap }) as TensorInfo;
  };

  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel({
    kernelName: 'BatchMatMul',
    backendName: 'wasm',
    setupFunc: original.setupFunc,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
      const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
      const wasm = backend as unknown as WasmBackend;
      const left = transposeA ? swapLastTwo(a, backend) : a;
      const right = transposeB ? swapLastTwo(b, backend) : b;
      const out = plainProduct({
        inputs: { a: left, b: right },
        backend,
        attrs: { transposeA: false, transposeB: false } as unknown as NamedAttrMap,
      }) as TensorInfo;
      if (left !== a) wasm.disposeData(left.dataId);
      if (right !== b) wasm.disposeData(right.dataId);
      return out;
    },
  });
}
