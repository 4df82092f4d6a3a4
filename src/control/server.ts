// The daemon's control socket: a Unix socket readable and writable by root only (mode 0600 in a
// 0700 folder). Each line is a request, validated by `parseRequest` before the handler sees it and
// answered strictly in order on its connection, with its `id` echoed. Connections are capped, idle
// ones closed, slow handlers timed out; no fault of one client reaches another or the daemon.

import { chmodSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { PalisadeError } from '../core/errors.js';
import { capText, escapeControl } from '../core/text.js';
import { parseRequest, type Handler, type Reply, type Request, type RequestId } from './protocol.js';

/** The longest request line (bytes, without its newline). */
export const MAX_LINE = 64 * 1024;
/** The longest error message sent back (characters): a client's own text is echoed only so far. */
const MAX_MESSAGE = 512;
/** Past this many unanswered request bytes on one connection, reading pauses too. */
const MAX_QUEUED_BYTES = 4 * MAX_LINE;
const INTERNAL = 'internal error; see the daemon log';

export interface ControlServerOptions {
  /**
   * Open connections at most; the next one gets PAL_ERR_CONTROL and is closed (counted as
   * refused). Default 64, and never more than a quarter of the process's open-file limit, so that
   * a flood of clients cannot starve the firewall tools, the database and the outputs of descriptors.
   */
  maxConnections?: number;
  /** A connection with no complete request (and no reply being written) for this long is closed. Default 30 s. */
  idleTimeoutMs?: number;
  /** A handler slower than this is answered PAL_ERR_CONTROL "timed out" (the next request goes on). Default 60 s. */
  requestTimeoutMs?: number;
  /** Requests read but not yet answered per connection; past it reading pauses until replies drain. Default 32. */
  maxInFlight?: number;
  /** Told of every internal fault: a handler bug (with its request), a reply that cannot be encoded, an accept error (null). */
  onError?: (e: unknown, req: Request | null) => void;
}

export interface ControlStats {
  /** Connections open now. */
  connections: number;
  /** The connection cap in force: maxConnections, or a quarter of the open-file limit if lower. */
  max_connections: number;
  /** Connections accepted since listen. */
  accepted: number;
  /** Connections refused over maxConnections. */
  refused: number;
  /** Request lines received. */
  requests: number;
  /** Internal faults (reported through onError). */
  errors: number;
  /** Handler calls answered "timed out". */
  timeouts: number;
  /** Requests answered PAL_ERR_USAGE: not UTF-8, not JSON, too long, or not a valid request. */
  bad_requests: number;
  /** Connections closed for idleness. */
  idle_closed: number;
}

const line = (r: Reply): string => `${JSON.stringify(r)}\n`;

export class ControlServer {
  private server: Server | null = null;
  private readonly conns = new Set<Connection>();
  private readonly opts: Required<ControlServerOptions>;
  /** @internal counters shared with the connections */
  readonly counts: Omit<ControlStats, 'connections' | 'max_connections'> = { accepted: 0, refused: 0, requests: 0, errors: 0, timeouts: 0, bad_requests: 0, idle_closed: 0 };

  constructor(
    readonly path: string,
    /** @internal */
    readonly handler: Handler,
    options: ControlServerOptions = {},
  ) {
    this.opts = {
      maxConnections: options.maxConnections ?? 64,
      idleTimeoutMs: options.idleTimeoutMs ?? 30_000,
      requestTimeoutMs: options.requestTimeoutMs ?? 60_000,
      maxInFlight: options.maxInFlight ?? 32,
      onError: options.onError ?? (() => {}),
    };
  }

  get options(): Readonly<Required<ControlServerOptions>> {
    return this.opts;
  }

  stats(): ControlStats {
    return { connections: this.conns.size, max_connections: this.cap(), ...this.counts };
  }

  private capAt = 0;
  private capNow = 0;

  /** The connection cap in force, with the open-file limit read at most once a second. */
  private cap(): number {
    const now = Date.now();
    if (now - this.capAt >= 1000) {
      const limit = fileLimit();
      this.capNow = limit === null ? this.opts.maxConnections : Math.min(this.opts.maxConnections, Math.max(1, Math.floor(limit / 4)));
      this.capAt = now;
    }
    return this.capNow;
  }

  async listen(): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    if (await answers(this.path)) {
      throw new PalisadeError('PAL_ERR_CONTROL', `${this.path}: another palisade daemon is listening here (one daemon per state and firewall table)`);
    }
    try {
      unlinkSync(this.path); // a stale socket of a dead daemon
    } catch {
      /* none */
    }
    const server = createServer({ allowHalfOpen: true }, (s) => this.accept(s));
    const old = process.umask(0o177); // the socket is created 0600, never briefly wider
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.path, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      throw new PalisadeError('PAL_ERR_CONTROL', `${this.path}: cannot listen: ${(e as Error).message}`, { cause: e });
    } finally {
      process.umask(old);
    }
    // After listening, an error is an accept failure (EMFILE, ENFILE): counted and reported, and
    // the server goes on (libuv sheds the pending connections meanwhile).
    server.on('error', (e) => this.fault(e, null));
    chmodSync(this.path, 0o600);
    this.server = server;
  }

  /** @internal Counts an internal fault and tells onError; a throwing onError is ignored. */
  fault(e: unknown, req: Request | null): void {
    this.counts.errors++;
    try {
      this.opts.onError(e, req);
    } catch {
      /* the reporter's own fault must not take the socket down */
    }
  }

  private accept(s: Socket): void {
    s.on('error', () => {}); // a client's reset or broken pipe concerns that client only
    if (this.server === null) {
      s.destroy();
      return;
    }
    const cap = this.cap();
    if (this.conns.size >= cap) {
      this.counts.refused++;
      s.end(line({ ok: false, code: 'PAL_ERR_CONTROL', message: `too many control connections (${cap} open); try again later` }), () => s.destroy());
      return;
    }
    this.counts.accepted++;
    const c = new Connection(this, s);
    this.conns.add(c);
    s.once('close', () => {
      c.dispose();
      this.conns.delete(c);
    });
  }

  /** Stops listening, closes every open connection, removes the socket. */
  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    for (const c of this.conns) c.destroy();
    this.conns.clear();
    if (s) await new Promise<void>((r) => s.close(() => r()));
    try {
      unlinkSync(this.path);
    } catch {
      /* gone */
    }
  }
}

/** One client: reads lines, answers them one at a time and in order, with back-pressure both ways. */
class Connection {
  /** Request lines read and not yet answered, in order; null stands for a line over MAX_LINE. */
  private readonly lines: (Buffer | null)[] = [];
  private queuedBytes = 0;
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private busy = false;
  private ended = false; // the client sent its last byte (half-close)
  private closing = false; // a final reply is on its way; read nothing more
  private readonly idle: NodeJS.Timeout;

  constructor(
    private readonly srv: ControlServer,
    private readonly s: Socket,
  ) {
    this.idle = setTimeout(() => this.onIdle(), srv.options.idleTimeoutMs);
    this.idle.unref();
    s.on('data', (d: Buffer) => this.read(d));
    s.on('end', () => {
      this.ended = true;
      if (this.partialBytes > 0) this.push(this.takePartial()); // a last request without its newline
      this.pump();
    });
    s.on('drain', () => this.pump());
  }

  private get open(): boolean {
    return !this.s.destroyed && this.s.writable;
  }

  private read(d: Buffer): void {
    if (this.closing) return;
    let from = 0;
    let nl: number;
    while ((nl = d.indexOf(10, from)) >= 0) {
      const piece = d.subarray(from, nl);
      from = nl + 1;
      if (this.partialBytes + piece.length > MAX_LINE) return this.tooLong();
      this.partial.push(piece);
      this.partialBytes += piece.length;
      this.push(this.takePartial());
    }
    if (from < d.length) {
      const rest = d.subarray(from);
      if (this.partialBytes + rest.length > MAX_LINE) return this.tooLong();
      this.partial.push(rest);
      this.partialBytes += rest.length;
    }
    this.pump();
  }

  private takePartial(): Buffer {
    const b = this.partial.length === 1 ? this.partial[0]! : Buffer.concat(this.partial, this.partialBytes);
    this.partial = [];
    this.partialBytes = 0;
    return b;
  }

  private push(b: Buffer): void {
    this.srv.counts.requests++;
    this.idle.refresh();
    this.lines.push(b);
    this.queuedBytes += b.length;
    if (this.lines.length >= this.srv.options.maxInFlight || this.queuedBytes >= MAX_QUEUED_BYTES) this.s.pause();
  }

  /** A line over MAX_LINE: answered after the requests before it, then the connection is closed (it cannot be resynchronised). */
  private tooLong(): void {
    this.closing = true;
    this.partial = [];
    this.partialBytes = 0;
    this.s.pause();
    this.srv.counts.requests++;
    this.lines.push(null); // its place in the order
    this.pump();
  }

  /** Answers the next request when none is running and the client reads its replies. */
  private pump(): void {
    while (!this.busy && this.lines.length > 0 && this.open && !this.s.writableNeedDrain) {
      const raw = this.lines.shift()!;
      if (raw === null) {
        this.srv.counts.bad_requests++;
        this.s.end(line({ ok: false, code: 'PAL_ERR_USAGE', message: `bad request: a line longer than ${MAX_LINE} bytes; the connection is closed` }), () => this.s.destroy());
        return;
      }
      this.queuedBytes -= raw.length;
      const r = this.validate(raw);
      if ('reply' in r) {
        this.write(r.reply);
        continue;
      }
      this.busy = true;
      void this.call(r.req).then((reply) => {
        this.busy = false;
        this.write(reply);
        this.pump();
      });
    }
    if (!this.open) return;
    if (this.lines.length === 0 && !this.busy && this.ended && !this.closing) {
      this.closing = true;
      this.s.end(() => this.s.destroy());
      return;
    }
    if (!this.closing && !this.ended && this.s.isPaused() && this.lines.length < this.srv.options.maxInFlight && this.queuedBytes < MAX_QUEUED_BYTES && !this.s.writableNeedDrain) {
      this.s.resume();
    }
  }

  /** A valid request, or the PAL_ERR_USAGE reply to a bad one (with its id when one can be read). */
  private validate(raw: Buffer): { req: Request } | { reply: Reply } {
    const bad = (message: string, id?: RequestId): { reply: Reply } => {
      this.srv.counts.bad_requests++;
      return { reply: withId({ ok: false, code: 'PAL_ERR_USAGE', message: capText(escapeControl(message), MAX_MESSAGE) }, id) };
    };
    const end = raw.length > 0 && raw[raw.length - 1] === 13 ? raw.length - 1 : raw.length; // CRLF from nc/telnet
    let text: string;
    try {
      text = UTF8.decode(raw.subarray(0, end));
    } catch {
      return bad('bad request: the line is not valid UTF-8');
    }
    if (text.trim() === '') return bad('bad request: empty line; expected a JSON request {"cmd": ...}');
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      return bad('bad request: the line is not JSON; expected a JSON request {"cmd": ...}');
    }
    try {
      return { req: parseRequest(v) };
    } catch (e) {
      return bad(e instanceof PalisadeError ? e.message : 'bad request', looseId(v));
    }
  }

  /** Runs the handler under the request timeout; never rejects. */
  private async call(req: Request): Promise<Reply> {
    const ms = this.srv.options.requestTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<Reply>((resolve) => {
      timer = setTimeout(() => {
        this.srv.counts.timeouts++;
        resolve(withId({ ok: false, code: 'PAL_ERR_CONTROL', message: `${req.cmd}: timed out after ${ms} ms` }, req.id));
      }, ms);
    });
    const work = (async (): Promise<Reply> => {
      try {
        return withId({ ok: true, result: await this.srv.handler(req) }, req.id);
      } catch (e) {
        if (e instanceof PalisadeError && e.code !== 'PAL_ERR_INTERNAL') return withId({ ok: false, code: e.code, message: e.message }, req.id);
        this.srv.fault(e, req);
        return withId({ ok: false, code: 'PAL_ERR_INTERNAL', message: INTERNAL }, req.id);
      }
    })();
    try {
      return await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private write(r: Reply): void {
    if (!this.open) return; // the client left: its reply is dropped
    let out: string;
    try {
      out = line(r);
    } catch (e) {
      this.srv.fault(e, null); // a result JSON cannot carry (a cycle, a BigInt)
      out = line(withId({ ok: false, code: 'PAL_ERR_INTERNAL', message: INTERNAL }, r.id));
    }
    this.idle.refresh();
    this.s.write(out);
  }

  /** No complete request for idleTimeoutMs and no handler running: the connection is closed. */
  private onIdle(): void {
    if (this.busy) {
      this.idle.refresh(); // the request timeout covers a slow handler
      return;
    }
    this.srv.counts.idle_closed++;
    this.s.destroy();
  }

  dispose(): void {
    clearTimeout(this.idle);
    this.lines.length = 0;
    this.queuedBytes = 0;
  }

  destroy(): void {
    this.dispose();
    this.s.destroy();
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

function withId(r: Reply, id: RequestId | undefined): Reply {
  return id === undefined ? r : { ...r, id };
}

/** The id of a request that failed validation, when it is itself a valid id, so the error can be matched. */
function looseId(v: unknown): RequestId | undefined {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const id = (v as { id?: unknown }).id;
  if (typeof id === 'string' && id.length <= 64) return id;
  if (typeof id === 'number' && Number.isSafeInteger(id)) return id;
  return undefined;
}

/** The process's soft limit on open files (from /proc), or null when unknown or unlimited. */
function fileLimit(): number | null {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null; // no /proc, or no descriptor left to read it with: the configured cap holds
  }
}

/** True when something accepts connections on the socket. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
