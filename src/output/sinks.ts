// Where event lines go: an append-only file (closed and reopened on request, for logrotate's
// SIGHUP) or a stream such as stdout. Lines are buffered and written in batches. A sink never
// throws on a write or reopen fault (unless strict): it counts it, reports it once per fault
// streak, keeps a bounded backlog (dropping the oldest lines), retries, and recovers by itself.

import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { PalisadeError, type ErrorCode } from '../core/errors.js';

/** A sink's fault record, for `status`. */
export interface SinkHealth {
  path: string;
  ok: boolean;
  /** Failed writes and opens since start. */
  errors: number;
  /** Lines lost: dropped past the backlog cap while failing, or unwritable at close. */
  dropped_lines: number;
  last_error: string | null;
}

/** Where a sink reports the start (`onError`, once per fault streak) and end of a fault. */
export interface SinkEvents {
  onError?: (e: PalisadeError) => void;
  onRecovered?: (path: string) => void;
}

export interface SinkOptions {
  /** Throw PAL_ERR_OUTPUT_WRITE / PAL_ERR_OUTPUT_OPEN at the first fault (replay). */
  strict?: boolean;
  /** While failing, the least time between retries of a write or an open (ms; default 1000). */
  retryMs?: number;
  /** Backlog kept while failing, in characters; the oldest lines past it are dropped. */
  maxBacklog?: number;
}

export interface LineSink {
  readonly path: string;
  write(line: string): void;
  flush(): void;
  /** Closes and reopens the destination (a no-op for streams). */
  reopen(): void;
  close(): void;
  health(): SinkHealth;
  /** Set by Outputs.add: where faults and recoveries are reported. */
  events?: SinkEvents;
}

const FLUSH_AT = 64 * 1024;
export const MAX_BACKLOG = 16 * 1024 * 1024;

/** The fault bookkeeping both sinks share: counts, the streak, strict mode, the backlog cap. */
abstract class FaultTolerantSink {
  events?: SinkEvents;
  protected buf: string[] = [];
  protected pending = 0;
  protected readonly strict: boolean;
  private readonly maxBacklog: number;
  private readonly retryMs: number;
  private nextRetryAt = 0;
  private ok = true;
  private errors = 0;
  private dropped = 0;
  private lastError: string | null = null;

  constructor(readonly path: string, opts: SinkOptions) {
    this.strict = opts.strict ?? false;
    this.maxBacklog = opts.maxBacklog ?? MAX_BACKLOG;
    this.retryMs = opts.retryMs ?? 1000;
  }

  /** Buffers a line; a full buffer is flushed, or, while failing, trimmed to the backlog cap. */
  write(line: string): void {
    this.buf.push(line);
    this.pending += line.length + 1;
    if (this.pending < FLUSH_AT) return;
    if (this.ok) this.flush();
    else this.trim();
  }

  abstract flush(): void;

  health(): SinkHealth {
    return { path: this.path, ok: this.ok, errors: this.errors, dropped_lines: this.dropped, last_error: this.lastError };
  }

  /** Records a fault (throws it in strict mode); the first of a streak goes to `onError`. */
  protected fault(code: ErrorCode, what: string, e: unknown): void {
    const err = new PalisadeError(code, `${this.path}: ${what}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    if (this.strict) throw err;
    this.errors++;
    this.lastError = err.message;
    this.nextRetryAt = Date.now() + this.retryMs;
    if (this.ok) {
      this.ok = false;
      this.events?.onError?.(err);
    }
  }

  protected recovered(): void {
    if (this.ok) return;
    this.ok = true;
    this.events?.onRecovered?.(this.path);
  }

  /** While failing, retries wait retryMs after the last fault (a flush runs per packet batch). */
  protected get retryDue(): boolean {
    return this.ok || Date.now() >= this.nextRetryAt;
  }

  /** Drops the oldest backlog lines past the cap. */
  protected trim(): void {
    let over = this.pending - this.maxBacklog;
    let n = 0;
    while (over > 0 && n < this.buf.length) over -= this.buf[n++]!.length + 1;
    if (n > 0) this.dropLines(n);
  }

  protected dropLines(n: number): void {
    for (const l of this.buf.splice(0, n)) this.pending -= l.length + 1;
    this.dropped += n;
  }

  /** Counts lines lost outside the backlog (a failed stream write). */
  protected countDropped(n: number): void {
    this.dropped += n;
  }
}

/** mkdir -p without Node's recursive mode, which spins forever where mkdir says ENOENT (/proc). */
function makeDirs(dir: string): void {
  try {
    mkdirSync(dir);
    return;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    if (code !== 'ENOENT' || dirname(dir) === dir) throw e;
  }
  makeDirs(dirname(dir));
  mkdirSync(dir);
}

export class FileSink extends FaultTolerantSink implements LineSink {
  private fd: number;
  /** The tail of a line cut by a failed write: written first, never dropped (one line at most). */
  private carry: Buffer | null = null;
  /** A reopen failed (or the file is not open): retried on the next flushes. */
  private reopenDue = false;

  /** Opens the file at once: an error here (PAL_ERR_OUTPUT_OPEN) is thrown in every mode. */
  constructor(path: string, opts: SinkOptions = {}) {
    super(path, opts);
    this.fd = FileSink.openFile(path);
  }

  private static openFile(path: string): number {
    try {
      makeDirs(dirname(path));
      return openSync(path, 'a', 0o640);
    } catch (e) {
      throw new PalisadeError('PAL_ERR_OUTPUT_OPEN', `${path}: cannot open event log: ${(e as Error).message}`, { cause: e });
    }
  }

  flush(): void {
    if (this.retryDue) this.flushNow();
  }

  /** Writes the backlog (after opening the file, if a reopen is due), looping on short writes. */
  private flushNow(): void {
    if (this.reopenDue) this.tryOpen();
    if (this.fd < 0 || (this.buf.length === 0 && !this.carry)) return;
    const head = this.carry;
    const text = Buffer.from(this.buf.length ? this.buf.join('\n') + '\n' : '');
    const data = head ? Buffer.concat([head, text]) : text;
    const lines = this.buf;
    this.buf = [];
    this.pending = 0;
    this.carry = null;
    let off = 0;
    try {
      while (off < data.length) {
        const n = writeSync(this.fd, data, off, data.length - off);
        if (n <= 0) throw Object.assign(new Error('write wrote nothing'), { code: 'EIO' });
        off += n;
      }
    } catch (e) {
      this.keepUnwritten(data, off, head ? head.length : 0, lines);
      this.fault('PAL_ERR_OUTPUT_WRITE', 'cannot write event log', e);
      this.trim();
      return;
    }
    if (!this.reopenDue) this.recovered();
  }

  /**
   * Puts what a failed write left back: the rest of a cut line as `carry`, the whole lines after
   * it back in the backlog (this runs only on a fault).
   */
  private keepUnwritten(data: Buffer, off: number, headLen: number, lines: string[]): void {
    if (off < headLen) {
      this.carry = data.subarray(off, headLen);
      this.buf = lines;
    } else {
      const rest = data.subarray(off);
      const nl = rest.indexOf(10);
      const cut = off > 0 && data[off - 1] !== 10 ? nl + 1 : 0;
      if (cut > 0) this.carry = rest.subarray(0, cut);
      const tail = rest.subarray(cut).toString('utf8');
      this.buf = tail ? tail.slice(0, -1).split('\n') : [];
    }
    this.pending = this.buf.reduce((s, l) => s + l.length + 1, 0);
  }

  /** Opens the path anew; on success the old descriptor (if any) is closed and replaced. */
  private tryOpen(): void {
    let fd: number;
    try {
      fd = FileSink.openFile(this.path);
    } catch (e) {
      this.reopenDue = true;
      const cause = (e as PalisadeError).cause ?? e;
      this.fault('PAL_ERR_OUTPUT_OPEN', this.fd >= 0 ? 'cannot reopen event log (still writing to the old file)' : 'cannot open event log', cause);
      return;
    }
    if (this.fd >= 0) {
      try {
        closeSync(this.fd);
      } catch {
        // The old file is done with either way.
      }
    }
    this.fd = fd;
    this.reopenDue = false;
  }

  reopen(): void {
    this.flushNow();
    this.reopenDue = true;
    this.flushNow();
    if (!this.reopenDue && this.buf.length === 0 && !this.carry) this.recovered();
  }

  close(): void {
    this.reopenDue = false;
    try {
      this.flushNow();
    } finally {
      if (this.buf.length > 0) this.dropLines(this.buf.length);
      this.carry = null;
      const fd = this.fd;
      this.fd = -1;
      if (fd >= 0) {
        try {
          closeSync(fd);
        } catch {
          // Nothing more can be written to it either way.
        }
      }
    }
  }
}

/**
 * A stream (stdout). Writes complete asynchronously: a fault arrives in the write's callback;
 * in strict mode it is thrown at the next write, flush or close. A broken stream (EPIPE) stays
 * broken: its lines are counted as dropped.
 */
export class StreamSink extends FaultTolerantSink implements LineSink {
  private failure: unknown = null;

  constructor(private readonly stream: NodeJS.WritableStream, opts: SinkOptions & { path?: string } = {}) {
    super(opts.path ?? '-', opts);
    // Without a listener, a stream error (EPIPE) is an uncaught exception.
    stream.on('error', () => {});
  }

  override write(line: string): void {
    this.throwIfFailed();
    if (this.buf.length >= 256) this.flush();
    super.write(line);
  }

  flush(): void {
    this.throwIfFailed();
    if (this.buf.length === 0) return;
    const s = this.stream as NodeJS.WritableStream & { destroyed?: boolean; writableLength?: number };
    if (s.destroyed || (s.writableLength ?? 0) > MAX_BACKLOG) {
      // A broken stream was reported when it broke; a stalled reader is a fault of its own.
      if (!s.destroyed) this.fault('PAL_ERR_OUTPUT_WRITE', 'cannot write events', new Error(`over ${MAX_BACKLOG} bytes wait to be written`));
      this.dropLines(this.buf.length);
      return;
    }
    const n = this.buf.length;
    s.write(this.buf.join('\n') + '\n', (e?: Error | null) => {
      if (!e) return this.recovered();
      if (this.strict) this.failure ??= e;
      else this.fault('PAL_ERR_OUTPUT_WRITE', 'cannot write events', e);
      this.countDropped(n);
    });
    this.buf = [];
    this.pending = 0;
  }

  private throwIfFailed(): void {
    if (this.failure) this.fault('PAL_ERR_OUTPUT_WRITE', 'cannot write events', this.failure);
  }

  reopen(): void {}

  close(): void {
    this.flush();
  }
}
