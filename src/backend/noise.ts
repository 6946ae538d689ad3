import * as tf from '@tensorflow/tfjs';
import { nativeBackend } from './graph/native.js';

/**
 * Uniform [0, 1) noise of `shape` as a pure function of `seed` (int32 [2]): the same seed gives the
 * same noise on the same engine, whenever and however often it is drawn — what dropout needs for a
 * resumed run to draw exactly the masks of an uninterrupted one.
 *
 * On tensorflow it is TensorFlow's StatelessRandomUniform (Philox, keyed by the seed), called through
 * the binding so that a compiled program records it with the seed as its input: tf.randomUniform
 * would draw in JavaScript while the program is traced and freeze that one draw into the graph as a
 * constant. Elsewhere nothing is compiled, and tfjs's own seeded generator draws it eagerly.
 */
export function uniformNoise(shape: number[], seed: tf.Tensor): tf.Tensor {
  const backend = nativeBackend();
  if (!backend) {
    const [first, second] = seed.dataSync();
    return tf.randomUniform(shape, 0, 1, 'float32', `${first}/${second}`);
  }
  const { binding } = backend;
  const dims = tf.tensor1d(shape, 'int32');
  const type = (dtype: tf.DataType) => backend.getDTypeInteger(dtype);
  const attrs = [
    { name: 'dtype', type: binding.TF_ATTR_TYPE, value: type('float32') },
    { name: 'T', type: binding.TF_ATTR_TYPE, value: type('int32') },
    { name: 'Tseed', type: binding.TF_ATTR_TYPE, value: type('int32') },
  ];
  const [noise] = binding.executeOp('StatelessRandomUniform', attrs, backend.getInputTensorIds([dims, seed]), 1);
  dims.dispose();
  return backend.createOutputTensor(noise);
}
