// Where event lines go: an append-only file (closed and reopened on request, for logrotate's
// SIGHUP) or a stream such as stdout. Lines are buffered and written in batches.

import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { PalisadeError } from '../core/errors.js';

export interface LineSink {
  write(line: string): void;
  flush(): void;
  /** Closes and reopens the destination (a no-op for streams). */
  reopen(): void;
  close(): void;
}

const FLUSH_AT = 64 * 1024;

export class FileSink implements LineSink {
  private fd: number;
  private buf: string[] = [];
  private pending = 0;

  constructor(readonly path: string) {
    this.fd = FileSink.openFile(path);
  }

  private static openFile(path: string): number {
    try {
      mkdirSync(dirname(path), { recursive: true });
      return openSync(path, 'a', 0o640);
    } catch (e) {
      throw new PalisadeError('PAL_ERR_OUTPUT_OPEN', `${path}: cannot open event log: ${(e as Error).message}`, { cause: e });
    }
  }

  write(line: string): void {
    this.buf.push(line);
    this.pending += line.length;
    if (this.pending >= FLUSH_AT) this.flush();
  }

  flush(): void {
    if (this.buf.length === 0 || this.fd < 0) return;
    const text = this.buf.join('\n') + '\n';
    this.buf = [];
    this.pending = 0;
    writeSync(this.fd, text);
  }

  reopen(): void {
    this.flush();
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = FileSink.openFile(this.path);
  }

  close(): void {
    this.flush();
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

export class StreamSink implements LineSink {
  private buf: string[] = [];

  constructor(private readonly stream: NodeJS.WritableStream) {}

  write(line: string): void {
    this.buf.push(line);
    if (this.buf.length >= 256) this.flush();
  }

  flush(): void {
    if (this.buf.length === 0) return;
    this.stream.write(this.buf.join('\n') + '\n');
    this.buf = [];
  }

  reopen(): void {}

  close(): void {
    this.flush();
  }
}
