// The daemon's control socket: a Unix socket readable and writable by root only (mode 0600 in a
// 0700 folder). Each line is a request, answered by the handler; a bad line gets an error reply.

import { chmodSync, mkdirSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { PalisadeError } from '../core/errors.js';
import type { Handler, Reply, Request } from './protocol.js';

const MAX_LINE = 64 * 1024;
const COMMANDS = new Set(['status', 'list', 'ban', 'unban', 'history']);

export class ControlServer {
  private server: Server | null = null;

  constructor(
    readonly path: string,
    private readonly handler: Handler,
  ) {}

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
    const server = createServer((s) => this.serve(s));
    const old = process.umask(0o177); // the socket is created 0600, never briefly wider
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.path, () => resolve());
      });
    } catch (e) {
      throw new PalisadeError('PAL_ERR_CONTROL', `${this.path}: cannot listen: ${(e as Error).message}`, { cause: e });
    } finally {
      process.umask(old);
    }
    chmodSync(this.path, 0o600);
    this.server = server;
  }

  private serve(s: Socket): void {
    let buf = '';
    s.setEncoding('utf8');
    s.on('error', () => {});
    s.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_LINE) {
        s.end(`${JSON.stringify({ ok: false, code: 'PAL_ERR_USAGE', message: 'request too long' })}\n`);
        return;
      }
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        void this.answer(line).then((r) => s.writable && s.write(`${JSON.stringify(r)}\n`));
      }
    });
  }

  private async answer(line: string): Promise<Reply> {
    let req: Request;
    try {
      req = JSON.parse(line) as Request;
    } catch {
      return { ok: false, code: 'PAL_ERR_USAGE', message: 'the request is not JSON' };
    }
    if (!req || typeof req !== 'object' || !COMMANDS.has(req.cmd)) return { ok: false, code: 'PAL_ERR_USAGE', message: 'unknown command' };
    try {
      return { ok: true, result: await this.handler(req) };
    } catch (e) {
      if (e instanceof PalisadeError) return { ok: false, code: e.code, message: e.message };
      return { ok: false, code: 'PAL_ERR_INTERNAL', message: (e as Error).message };
    }
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((r) => s.close(() => r()));
    try {
      unlinkSync(this.path);
    } catch {
      /* gone */
    }
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
