// The CLI's side of the control socket: sends one request and waits for its reply. "No daemon"
// (no socket, or nobody listening) is reported as null so the CLI can use the database instead.

import { connect } from 'node:net';
import { ERROR_CODES, PalisadeError, type ErrorCode } from '../core/errors.js';
import type { Reply, Request } from './protocol.js';

export async function request(path: string, req: Request, timeoutMs = 15000): Promise<unknown | null> {
  const reply = await new Promise<Reply | null>((resolve, reject) => {
    const s = connect(path);
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new PalisadeError('PAL_ERR_CONTROL', `${path}: no reply within ${timeoutMs} ms`));
    }, timeoutMs);
    s.setEncoding('utf8');
    s.on('connect', () => s.write(`${JSON.stringify(req)}\n`));
    s.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      s.end();
      try {
        resolve(JSON.parse(buf.slice(0, nl)) as Reply);
      } catch {
        reject(new PalisadeError('PAL_ERR_CONTROL', `${path}: the daemon sent a reply that is not JSON`));
      }
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') resolve(null);
      else reject(new PalisadeError('PAL_ERR_CONTROL', `${path}: ${e.code === 'EACCES' ? 'permission denied (root only)' : e.message}`, { cause: e }));
    });
  });
  if (reply === null) return null;
  if (!reply.ok) throw new PalisadeError(reply.code in ERROR_CODES ? (reply.code as ErrorCode) : 'PAL_ERR_CONTROL', reply.message);
  return reply.result;
}
