import cliProgress from 'cli-progress';

/**
 * Progress for long work: a cli-progress bar on a terminal, plain periodic lines otherwise
 * (CI, logs, pipes), so that logs stay readable.
 */
export interface Progress {
  update(value: number, fields?: Record<string, string | number>): void;
  /** A line above the bar (warnings, evaluations), without breaking the bar. */
  log(line: string): void;
  stop(): void;
}

export interface ProgressOptions {
  label: string;
  total: number;
  /** Extra fields shown after the counter, e.g. "loss {loss} | {rate} tok/s". */
  fields?: string;
  /** Formats value/total, e.g. as MB. */
  unit?: (value: number) => string;
  /** Seconds between plain lines when not on a terminal. */
  plainEverySeconds?: number;
}

export function createProgress(options: ProgressOptions): Progress {
  const unit = options.unit ?? ((value: number) => String(value));
  const stream = process.stderr;
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format:
          `${options.label} |{bar}| ` +
          `{shown}/{shownTotal}${options.fields ? ` | ${options.fields}` : ''} | ETA {eta_formatted}`,
        hideCursor: true,
        stream,
        etaBuffer: 50,
        fps: 5,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(options.total, 0, { shown: unit(0), shownTotal: unit(options.total) });
    return {
      update: (value, fields = {}) =>
        bar.update(value, { ...fields, shown: unit(value), shownTotal: unit(options.total) }),
      log: (line) => {
        stream.write('\r\x1b[K');
        stream.write(`${line}\n`);
        bar.render();
      },
      stop: () => bar.stop(),
    };
  }
  const every = (options.plainEverySeconds ?? 10) * 1000;
  let lastPrinted = 0;
  let lastLine = '';
  const started = Date.now();
  const line = (value: number, fields: Record<string, string | number>) => {
    const extras = options.fields
      ? ` | ${options.fields.replace(/\{(\w+)\}/g, (_, key) => String(fields[key] ?? ''))}`
      : '';
    const percent = options.total > 0 ? ` (${((100 * value) / options.total).toFixed(0)}%)` : '';
    const elapsed = ((Date.now() - started) / 1000).toFixed(0);
    return `${options.label} ${unit(value)}/${unit(options.total)}${percent}${extras} | ${elapsed}s`;
  };
  return {
    update: (value, fields = {}) => {
      lastLine = line(value, fields);
      if (Date.now() - lastPrinted >= every || value >= options.total) {
        lastPrinted = Date.now();
        stream.write(`${lastLine}\n`);
        lastLine = '';
      }
    },
    log: (text) => stream.write(`${text}\n`),
    stop: () => {
      if (lastLine) stream.write(`${lastLine}\n`);
    },
  };
}

export const megabytes = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;
