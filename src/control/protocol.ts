// The control protocol between `palisade` commands and the daemon: one JSON request per line on a
// Unix socket, one JSON reply per line, in request order. A request may carry an `id` (string or
// integer), echoed in its reply. Errors travel as { ok: false, code, message }. Every request is
// validated by `parseRequest`, the same schema the CLI uses before it sends or works offline, so
// no malformed value ever reaches the policy, the database or the firewall.

import { z } from 'zod';
import { Cidr } from '../core/addr.js';
import { PalisadeError } from '../core/errors.js';
import { MAX_REASON } from '../core/text.js';

/** The longest ban an operator may ask for: ten years (seconds). */
export const MAX_BAN_SECONDS = 10 * 365 * 86400;
/** The most rows a listing request may ask for. */
export const MAX_LIMIT = 10000;

const target = z
  .string({ error: 'expected an IP address or CIDR string' })
  .trim()
  .max(64, { error: 'expected an IP address or CIDR of at most 64 characters' })
  .refine((s) => Cidr.parse(s.trim()) !== null, { error: 'expected an IP address or CIDR (e.g. 198.51.100.7, 2001:db8::/64)' });

const seconds = z
  .number({ error: `expected a number of seconds from 1 to ${MAX_BAN_SECONDS}` })
  .finite({ error: `expected a number of seconds from 1 to ${MAX_BAN_SECONDS}` })
  .min(1, { error: `expected a number of seconds from 1 to ${MAX_BAN_SECONDS}` })
  .max(MAX_BAN_SECONDS, { error: `expected a number of seconds from 1 to ${MAX_BAN_SECONDS}` });

const reason = z.string({ error: 'expected a text' }).max(MAX_REASON, { error: `expected a reason of at most ${MAX_REASON} characters` });

/** A time window back from now, seconds (for alerts and top). */
const since = z
  .number({ error: 'expected a number of seconds' })
  .finite({ error: 'expected a finite number of seconds' })
  .min(0, { error: 'expected a positive number of seconds' })
  .max(100 * 365 * 86400, { error: 'expected at most 100 years' });

const limitError = `expected an integer from 1 to ${MAX_LIMIT}`;
const limit = z.number({ error: limitError }).int({ error: limitError }).min(1, { error: limitError }).max(MAX_LIMIT, { error: limitError });

const id = z.union([z.string().max(64), z.number().int().safe()], { error: 'expected a string of at most 64 characters or an integer' });

export const requestSchema = z.discriminatedUnion(
  'cmd',
  [
    z.strictObject({ cmd: z.literal('status'), id: id.optional() }),
    z.strictObject({ cmd: z.literal('list'), id: id.optional() }),
    z.strictObject({ cmd: z.literal('ban'), id: id.optional(), target, seconds: seconds.nullable().default(null), reason: reason.nullable().default(null) }),
    z.strictObject({ cmd: z.literal('unban'), id: id.optional(), target }),
    z.strictObject({ cmd: z.literal('history'), id: id.optional(), target }),
    z.strictObject({ cmd: z.literal('alerts'), id: id.optional(), since: since.nullable().default(null), kind: z.string().max(64).nullable().default(null), limit: limit.default(100) }),
    z.strictObject({ cmd: z.literal('top'), id: id.optional(), since: since.nullable().default(null), limit: limit.default(20) }),
  ],
  { error: 'expected a request {"cmd": ...} with cmd one of: status, list, ban, unban, history, alerts, top' },
);

export type Request = z.output<typeof requestSchema>;
export type RequestId = string | number;

/**
 * Validates a request (parsed JSON, or an object the CLI built); throws PAL_ERR_USAGE naming the
 * first bad field and what was expected.
 */
export function parseRequest(v: unknown): Request {
  const r = requestSchema.safeParse(v);
  if (r.success) return r.data;
  const i = r.error.issues[0]!;
  const where = i.path.length ? `${i.path.map(String).join('.')}: ` : '';
  throw new PalisadeError('PAL_ERR_USAGE', `bad request: ${where}${i.message}`);
}

export type Reply = ({ ok: true; result: unknown } | { ok: false; code: string; message: string }) & { id?: RequestId };

export type Handler = (req: Request) => Promise<unknown>;
