import { writeSync } from 'node:fs';

/**
 * Standard output that may be a pipe closed early (`difft generate … | head`). The reader leaving
 * is not an error: the command stops producing and exits quietly with code 0.
 */
export class OutputClosed extends Error {
  constructor() {
    super('standard output closed');
    this.name = 'OutputClosed';
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Writes to stdout at once, so a closed pipe is noticed at the write that hits it (process.stdout
 * reports EPIPE only once the event loop turns, after a synchronous generation has finished).
 */
export function writeStdout(text: string): void {
  const bytes = Buffer.from(text, 'utf8');
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += writeSync(1, bytes, offset);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') throw new OutputClosed();
      if (code !== 'EAGAIN') throw error;
      Atomics.wait(pause, 0, 0, 1); // a non-blocking pipe that is full: wait for the reader
    }
  }
}

/** For everything else written through process.stdout: a reader gone ends the command quietly. */
export function exitQuietlyOnClosedOutput(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
}
