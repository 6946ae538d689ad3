import { runFile } from '../formats/run.js';
import { EventFile, type SummaryValue } from './event-file.js';
import { appendMetrics, syncMetrics, truncateMetrics, type MetricsRecord } from './metrics.js';
import { scalarValues } from './tensorboard.js';

/**
 * Where a run's records go: `metrics.jsonl` always, and TensorBoard's event file unless
 * `output.tensorboard` is off. Both are made durable before each checkpoint and cut back to the
 * checkpoint's step on resume, so either one has every step exactly once.
 */
export class RunLog {
  readonly metricsPath: string;
  private readonly eventFile?: EventFile;

  constructor(runDir: string, tensorboard: boolean) {
    this.metricsPath = runFile(runDir, 'metrics');
    this.eventFile = tensorboard ? EventFile.open(runDir) : undefined;
  }

  append(record: MetricsRecord): void {
    appendMetrics(this.metricsPath, record);
    this.eventFile?.write(record.step, scalarValues(record));
  }

  /** Images and other values that have no place in metrics.jsonl. */
  appendToEventFile(step: number, values: () => SummaryValue[]): void {
    if (this.eventFile) this.eventFile.write(step, values());
  }

  sync(): void {
    syncMetrics(this.metricsPath);
    this.eventFile?.sync();
  }

  truncate(step: number): void {
    truncateMetrics(this.metricsPath, step);
    this.eventFile?.truncate(step);
  }
}
