import * as tf from '@tensorflow/tfjs';

/**
 * The parts of tfjs-node's backend and of its native binding that graph compilation uses. The
 * binding executes one TensorFlow op eagerly per call (`executeOp`) and can load and run a
 * SavedModel (`loadSavedModel`, `runSavedModel`); tensors live in TensorFlow and are known to
 * JavaScript by integer ids.
 */

/** An op attribute as tfjs-node passes it to TensorFlow (`type` is one of the binding's TF_ATTR_*). */
export interface OpAttr {
  name: string;
  type: number;
  value: string | number | boolean | number[] | boolean[];
}

/** What the binding says of a tensor it made: its id, TensorFlow dtype and shape. */
export interface TensorMeta {
  id: number;
  dtype: number;
  shape: number[];
}

export interface NativeBinding {
  executeOp(name: string, attrs: OpAttr[], inputIds: number[], outputs: number): TensorMeta[];
  createTensor(shape: number[], dtype: number, values: ArrayBufferView): number;
  tensorDataSync(id: number): ArrayBufferView;
  deleteTensor(id: number): void;
  loadSavedModel(dir: string, tags: string): number;
  deleteSavedModel(id: number): void;
  runSavedModel(id: number, inputIds: number[], inputNames: string, outputNames: string): TensorMeta[];
  readonly TF_ATTR_STRING: number;
  readonly TF_ATTR_INT: number;
  readonly TF_ATTR_FLOAT: number;
  readonly TF_ATTR_BOOL: number;
  readonly TF_ATTR_TYPE: number;
  readonly TF_ATTR_SHAPE: number;
}

export interface NativeBackend {
  binding: NativeBinding;
  /** Binding ids of tfjs tensors (creating the TensorFlow tensor of one whose values are still in JavaScript). */
  getInputTensorIds(tensors: tf.Tensor[]): number[];
  /** A tfjs tensor (tracked by tf.tidy) over a binding tensor. */
  createOutputTensor(meta: TensorMeta): tf.Tensor;
  getDTypeInteger(dtype: tf.DataType): number;
  tensorMap: { get(dataId: object): { id: number } | undefined };
}

/** The active backend when it is tfjs-node's, else undefined. */
export function nativeBackend(): NativeBackend | undefined {
  if (tf.getBackend() !== 'tensorflow') return undefined;
  const backend = tf.backend() as unknown as Partial<NativeBackend>;
  return typeof backend.binding?.runSavedModel === 'function' ? (backend as NativeBackend) : undefined;
}
