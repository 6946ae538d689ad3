import { PNG } from 'pngjs';
import type { SummaryValue } from './event-file.js';
import type { MetricsRecord } from './metrics.js';

/**
 * What TensorBoard shows of a run: each metrics record as scalars under tags grouped by section
 * (train/, val/, lambda/, diff2/, task/), and at evaluations one example's attention map per layer as
 * an image. The step axis is the training step, as in metrics.jsonl.
 */
export function scalarValues(record: MetricsRecord): SummaryValue[] {
  const scalar = (tag: string, value: number | undefined): SummaryValue[] =>
    value === undefined || !Number.isFinite(value) ? [] : [{ tag, simpleValue: value }];
  if (record.type === 'train') {
    return [
      ...scalar('train/loss', record.loss),
      ...scalar('train/learning_rate', record.lr),
      ...scalar('train/grad_norm', record.gradNorm),
      ...scalar('train/tokens_per_second', record.tokensPerSecond),
      ...record.lambdas.flatMap((lambda, layer) => scalar(`lambda/layer_${layer}`, lambda)),
    ];
  }
  return [
    ...scalar('val/loss', record.valLoss),
    ...scalar('val/perplexity', record.valPerplexity),
    ...scalar('val/bits_per_byte', record.valBitsPerByte),
    ...Object.entries(record.tasks ?? {}).flatMap(([name, task]) => [
      ...scalar(`task/${name}/accuracy`, task.accuracy),
      ...scalar(`task/${name}/answer_loss`, task.answerLoss),
    ]),
    ...(record.extremes?.maxLogit ?? []).flatMap((value, layer) => scalar(`extremes/layer_${layer}/max_logit`, value)),
    ...(record.extremes?.maxActivation ?? []).flatMap((value, layer) =>
      scalar(`extremes/layer_${layer}/max_activation`, value),
    ),
    ...(record.diff2 ?? []).flatMap((layer, index) => [
      ...scalar(`diff2/layer_${index}/lambda_mean`, layer.lambdaMean),
      ...scalar(`diff2/layer_${index}/gate_mean`, layer.gate.mean),
      ...scalar(`diff2/layer_${index}/gate_p05`, layer.gate.p05),
      ...scalar(`diff2/layer_${index}/gate_p95`, layer.gate.p95),
    ]),
  ];
}

/**
 * A T×T map as an RGB PNG: white 0, blue positive, red negative (a differential map subtracts
 * attention). Each row (query) is scaled by its own largest magnitude, so a late query's spread-out
 * attention shows as well as the first rows' (row 0 is all on one key). Upscaled to at least 256
 * pixels so short contexts show.
 */
export function mapImage(map: Float32Array, length: number): SummaryValue['image'] {
  const scale = Math.max(1, Math.floor(256 / length));
  const size = length * scale;
  const rowLargest = Array.from(
    { length },
    (_, row) => map.subarray(row * length, (row + 1) * length).reduce((max, v) => Math.max(max, Math.abs(v)), 0) || 1,
  );
  const png = new PNG({ width: size, height: size, colorType: 2 });
  for (let y = 0; y < size; y++) {
    const row = Math.floor(y / scale);
    for (let x = 0; x < size; x++) {
      const value = map[row * length + Math.floor(x / scale)] / rowLargest[row]; // −1 … 1
      const fade = Math.round(255 * (1 - Math.abs(value)));
      const pixel = (y * size + x) * 4;
      png.data[pixel] = value < 0 ? 255 : fade;
      png.data[pixel + 1] = fade;
      png.data[pixel + 2] = value < 0 ? fade : 255;
      png.data[pixel + 3] = 255;
    }
  }
  const encodedImageString = PNG.sync.write(png, { colorType: 2 });
  return { height: size, width: size, colorspace: 3, encodedImageString };
}

export function attentionImages(maps: Float32Array[], length: number): SummaryValue[] {
  return maps.map((map, layer) => ({ tag: `attention/layer_${layer}`, image: mapImage(map, length) }));
}
