// The CLI's side of the control socket: sends one request (with an id) and waits for its reply.
// "No daemon" (no socket, or nobody listening) is reported as null so the CLI can use the database
// instead; anything else that is not a proper reply is PAL_ERR_CONTROL.

import { connect } from 'node:net';
import { ERROR_CODES, PalisadeError, type ErrorCode } from '../core/errors.js';
import type { Reply, Request, RequestId } from './protocol.js';

let nextId = 0;

export async function request(path: string, req: Request, timeoutMs = 15000): Promise<unknown | null> {
  const id: RequestId = req.id ?? `${process.pid}-${++nextId}`;
  const fail = (msg: string, cause?: unknown): PalisadeError => new PalisadeError('PAL_ERR_CONTROL', `${path}: ${msg}`, cause === undefined ? {} : { cause });
  const reply = await new Promise<Reply | null>((resolve, reject) => {
    const s = connect(path);
    let buf = '';
    let done = false;
    const finish = (f: () => void): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      f();
    };
    const timer = setTimeout(() => finish(() => reject(fail(`no reply within ${timeoutMs} ms`))), timeoutMs);
    s.setEncoding('utf8');
    s.on('connect', () => s.write(`${JSON.stringify({ ...req, id })}\n`));
    s.on('data', (d: string) => {
      const nl = d.indexOf('\n');
      if (nl < 0) {
        buf += d;
        return;
      }
      const text = buf + d.slice(0, nl);
      finish(() => {
        let r: unknown;
        try {
          r = JSON.parse(text);
        } catch {
          return reject(fail('the daemon sent a reply that is not JSON'));
        }
        if (!isReply(r)) return reject(fail('the daemon sent a reply without ok, code and message'));
        // One request per connection: a reply without an id is ours (a refusal is sent before any
        // request is read); one with another id is not.
        if (r.id !== undefined && r.id !== id) return reject(fail(`the daemon answered request ${JSON.stringify(r.id)}, not ${JSON.stringify(id)}`));
        resolve(r);
      });
    });
    s.on('end', () => finish(() => reject(fail('the daemon closed the connection without a reply'))));
    s.on('close', () => finish(() => reject(fail('the daemon closed the connection without a reply'))));
    s.on('error', (e: NodeJS.ErrnoException) =>
      finish(() => {
        if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') resolve(null);
        else reject(fail(e.code === 'EACCES' ? 'permission denied (root only)' : e.message, e));
      }),
    );
  });
  if (reply === null) return null;
  if (!reply.ok) throw new PalisadeError(Object.hasOwn(ERROR_CODES, reply.code) ? (reply.code as ErrorCode) : 'PAL_ERR_CONTROL', reply.message);
  return reply.result;
}

function isReply(v: unknown): v is Reply {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const r = v as Record<string, unknown>;
  if (r.ok === true) return true;
  return r.ok === false && typeof r.code === 'string' && typeof r.message === 'string';
}
