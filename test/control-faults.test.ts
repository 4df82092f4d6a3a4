// Fault tests for the control socket (issue 10, defects 3 and 4): a real ControlServer on a Unix
// socket in a temp dir, fed malformed, fuzzed (seeded), pipelined, idle, abandoned and slow
// requests, and a daemon-like child process at `ulimit -n 64`; plus the client's reply checks.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Cidr } from '../src/core/addr.js';
import { PalisadeError } from '../src/core/errors.js';
import { request } from '../src/control/client.js';
import { rng } from '../tools/craft.js';
import { MAX_BAN_SECONDS, MAX_LIMIT, parseRequest, type Handler, type Reply, type Request } from '../src/control/protocol.js';
import { ControlServer, type ControlServerOptions } from '../src/control/server.js';
import { sh, tempDir } from './helpers/cli.js';

type T = { after: (fn: () => void | Promise<void>) => void };

/** Text that would betray an internal error reaching the client. */
const JS_TEXT = /\n|\sat\s\S+\s\(|TypeError|RangeError|SyntaxError|ReferenceError|Unexpected (token|end)|JSON at position|SQLITE|undefined|\[object |NaN|Infinity|\.js:\d/;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** A server whose handler records what it received (a deep copy) and answers with `answer`. */
async function serve(t: T, answer: Handler = async (r) => ({ cmd: r.cmd, id: r.id ?? null }), opts: ControlServerOptions = {}) {
  const path = join(tempDir(t), 'run', 'palisade.sock');
  const received: Request[] = [];
  const server = new ControlServer(path, (r) => (received.push(structuredClone(r)), answer(r)), opts);
  await server.listen();
  t.after(() => server.close());
  return { path, server, received };
}

/** A raw client: writes whatever it is given and collects the reply lines. */
class Raw {
  readonly replies: Reply[] = [];
  closed = false;
  private buf = '';
  private constructor(readonly s: Socket) {
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      this.buf += d;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        this.replies.push(JSON.parse(this.buf.slice(0, nl)) as Reply);
        this.buf = this.buf.slice(nl + 1);
      }
    });
    s.on('error', () => {});
    s.on('close', () => (this.closed = true));
  }

  static open(path: string): Promise<Raw> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      s.once('connect', () => resolve(new Raw(s)));
      s.once('error', reject);
    });
  }

  send(x: string | Buffer): void {
    this.s.write(x);
  }

  async take(n: number, ms = 20_000): Promise<Reply[]> {
    await until(() => this.replies.length >= n || (this.closed && this.replies.length < n), `${n} replies`, ms);
    assert.ok(this.replies.length >= n, `expected ${n} replies, got ${this.replies.length} before the connection closed`);
    return this.replies.slice(0, n);
  }

  close(): void {
    this.s.destroy();
  }
}

/** Asserts that a reply is a clean PAL_ERR_USAGE naming what it should. */
function usage(r: Reply | undefined, field: RegExp, what: string): void {
  assert.ok(r, `${what}: no reply`);
  assert.equal(r.ok, false, `${what}: accepted`);
  if (r.ok) return;
  assert.equal(r.code, 'PAL_ERR_USAGE', `${what}: ${r.code} ${r.message}`);
  assert.match(r.message, field, what);
  assert.doesNotMatch(r.message, JS_TEXT, `${what}: internal text in ${JSON.stringify(r.message)}`);
  assert.ok(r.message.length <= 512, `${what}: a ${r.message.length}-character message`);
}

/** What the handler may ever see: only values the schema allows. */
function wellFormed(r: Request): void {
  assert.ok(['status', 'list', 'ban', 'unban', 'history', 'alerts', 'top'].includes(r.cmd), r.cmd);
  if ('target' in r) assert.ok(typeof r.target === 'string' && Cidr.parse(r.target.trim()) !== null, `target ${JSON.stringify(r.target)}`);
  if (r.cmd === 'ban') {
    assert.ok(r.seconds === null || (Number.isFinite(r.seconds) && r.seconds >= 1 && r.seconds <= MAX_BAN_SECONDS), `seconds ${r.seconds}`);
    assert.ok(r.reason === null || (typeof r.reason === 'string' && r.reason.length <= 256));
  }
  if ('limit' in r) assert.ok(Number.isInteger(r.limit) && r.limit >= 1 && r.limit <= MAX_LIMIT);
  if ('since' in r) assert.ok(r.since === null || (Number.isFinite(r.since) && r.since >= 0));
}

/** The seeded PRNG (mulberry32) of the packet crafter, so the fuzz is the same on every run. */
const prng = rng;

const KEYS = ['cmd', 'target', 'seconds', 'reason', 'id', 'since', 'kind', 'limit', '__proto__', 'constructor', 'x', 'Target', ''];
const CMDS = ['status', 'list', 'ban', 'unban', 'history', 'alerts', 'top', 'BAN', 'shutdown', '', 'toString', '__proto__'];
const BAD: Record<string, unknown[]> = {
  target: [5, null, true, [], {}, '', 'not-an-ip', '198.18.0.300', '198.18.0.1/33', '::g', 'x'.repeat(65), { a: [[[1]]] }, ['198.18.0.1']],
  seconds: ['abc', '3600', 1e308, -5, 0, 0.5, -0, MAX_BAN_SECONDS + 1, 'NaN', 'Infinity', true, [], {}, 2 ** 53],
  reason: [5, true, [], {}, 'r'.repeat(257)],
  id: [{}, [], true, 1.5, 2 ** 60, 'i'.repeat(65)],
  since: ['1h', -1, 1e308, true, {}],
  kind: [5, 'k'.repeat(65), []],
  limit: [0, -1, 1.5, '10', MAX_LIMIT + 1, 1e308, null],
};

function fuzzCase(rnd: () => number, i: number): { bytes: Buffer; valid?: boolean } {
  const pick = <V>(a: readonly V[]): V => a[Math.floor(rnd() * a.length)]!;
  const str = (n: number): string => Array.from({ length: n }, () => String.fromCodePoint(pick([0, 9, 13, 27, 0x7f, 0x85, 0x2028, 0x202e, 0xfeff, 0xd83d, 0x1f600, 65 + Math.floor(rnd() * 58)]))).join('');
  const value = (depth: number): unknown => {
    const k = Math.floor(rnd() * (depth > 3 ? 5 : 8));
    switch (k) {
      case 0:
        return null;
      case 1:
        return rnd() < 0.5;
      case 2:
        return pick([0, -1, 1, 1.5, 1e308, -1e308, 2 ** 53 + 2, Math.floor(rnd() * 1e9), -rnd()]);
      case 3:
        return rnd() < 0.3 ? pick(CMDS) : str(Math.floor(rnd() * 20));
      case 4:
        return rnd() < 0.5 ? '198.18.0.7' : pick(BAD.target!);
      case 5:
        return Array.from({ length: Math.floor(rnd() * 4) }, () => value(depth + 1));
      default: {
        const o: Record<string, unknown> = {};
        if (rnd() < 0.7) o.cmd = pick(CMDS);
        for (let n = Math.floor(rnd() * 4); n > 0; n--) Object.defineProperty(o, pick(KEYS), { value: value(depth + 1), enumerable: true, configurable: true, writable: true });
        return o;
      }
    }
  };
  const valid = (): Record<string, unknown> =>
    pick([
      { cmd: 'status' },
      { cmd: 'list' },
      { cmd: 'ban', target: `198.18.${Math.floor(rnd() * 256)}.${Math.floor(rnd() * 256)}`, seconds: 1 + Math.floor(rnd() * MAX_BAN_SECONDS), reason: 'fuzz' },
      { cmd: 'ban', target: '2001:db8::/64', seconds: null, reason: null },
      { cmd: 'unban', target: '198.19.0.0/16' },
      { cmd: 'history', target: '198.18.0.9' },
      { cmd: 'alerts', since: 3600, kind: 'syn_scan', limit: 10 },
      { cmd: 'top', limit: 5 },
    ]);
  const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v) ?? 'undefined');
  if (i % 10 === 0) return { bytes: json({ ...valid(), id: `v${i}` }), valid: true };
  switch (Math.floor(rnd() * 6)) {
    case 0: // random JSON
      return { bytes: json(value(0)) };
    case 1: {
      // a valid request with one field made bad
      const base = valid();
      const field = pick(Object.keys(BAD));
      base[field] = pick(BAD[field]!);
      return { bytes: json(base) };
    }
    case 2: {
      // a required field dropped, an extra key, or a bad cmd
      const base = valid();
      const how = Math.floor(rnd() * 3);
      if (how === 0 && 'target' in base) delete base.target;
      else if (how === 1 || !('target' in base)) base[pick(['x', 'Target', 'extra', 'constructor'])] = value(2);
      else base.cmd = pick(['shutdown', 'BAN', '', 5, null, 'ban ']);
      return { bytes: json(base) };
    }
    case 3: {
      // text that is not JSON
      const v = JSON.stringify(valid());
      return { bytes: Buffer.from(pick([v.slice(0, Math.floor(rnd() * v.length)), v.replace(/"/g, "'"), v.replace('}', ',}'), `${v}${v}`, v.replace(/\d+/, 'NaN'), 'NaN', 'Infinity', '-', '{'])) };
    }
    case 4: {
      // random bytes (no newline), often not UTF-8
      const b = Buffer.alloc(1 + Math.floor(rnd() * 200));
      for (let j = 0; j < b.length; j++) b[j] = Math.floor(rnd() * 256);
      for (let j = 0; j < b.length; j++) if (b[j] === 10) b[j] = 0xff;
      return { bytes: b };
    }
    default: {
      // nesting and size
      const depth = 10 + Math.floor(rnd() * 5000);
      return { bytes: Buffer.from(pick([`${'['.repeat(depth)}${']'.repeat(depth)}`, `{"cmd":"ban","target":${'['.repeat(depth)}${']'.repeat(depth)}}`, JSON.stringify({ cmd: 'ban', target: 'a'.repeat(depth * 4) }), JSON.stringify({ cmd: 'status', x: 'z'.repeat(depth) })])) };
    }
  }
}

/** What the server must do with a line: the schema's verdict (an independent reading of the rules). */
function verdict(bytes: Buffer): Request | null {
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return parseRequest(JSON.parse(text));
  } catch {
    return null;
  }
}

describe('control socket faults', () => {
  it('defect 3: malformed requests get PAL_ERR_USAGE naming the field, and never reach the handler', async (t) => {
    const { path, received } = await serve(t);
    const cases: [string, string | Buffer, RegExp][] = [
      ['seconds "abc"', '{"cmd":"ban","target":"198.18.0.9","seconds":"abc"}', /seconds: expected a number of seconds/],
      ['seconds 1e308', '{"cmd":"ban","target":"198.18.0.9","seconds":1e308}', /seconds: expected a number of seconds from 1 to/],
      ['seconds -5', '{"cmd":"ban","target":"198.18.0.9","seconds":-5}', /seconds:/],
      ['seconds 0.5', '{"cmd":"ban","target":"198.18.0.9","seconds":0.5}', /seconds:/],
      ['seconds NaN (bare)', '{"cmd":"ban","target":"198.18.0.9","seconds":NaN}', /not JSON/],
      ['seconds "NaN"', '{"cmd":"ban","target":"198.18.0.9","seconds":"NaN"}', /seconds:/],
      ['target 5', '{"cmd":"ban","target":5}', /target: expected an IP address/],
      ['missing target', '{"cmd":"unban"}', /target:/],
      ['target not an address', '{"cmd":"history","target":"198.18.0.300"}', /target: expected an IP address or CIDR/],
      ['unknown cmd', '{"cmd":"shutdown"}', /cmd: expected a request .*status, list, ban/],
      ['no cmd', '{"target":"198.18.0.9"}', /expected a request/],
      ['extra keys', '{"cmd":"status","admin":true}', /Unrecognized key: "admin"/],
      ['__proto__ key', '{"cmd":"list","__proto__":{"polluted":1}}', /Unrecognized key/],
      ['nested garbage', `{"cmd":"ban","target":{"a":${'['.repeat(1000)}${']'.repeat(1000)}}}`, /target:/],
      ['deep array', `${'['.repeat(30000)}${']'.repeat(30000)}`, /expected a request/],
      ['huge target', JSON.stringify({ cmd: 'ban', target: 'a'.repeat(60000) }), /target: expected an IP address or CIDR of at most 64/],
      ['huge key', JSON.stringify({ cmd: 'status', ['k'.repeat(60000)]: 1 }), /Unrecognized key/],
      ['long reason', JSON.stringify({ cmd: 'ban', target: '198.18.0.9', reason: 'r'.repeat(300) }), /reason: expected a reason of at most 256/],
      ['control characters in a key', JSON.stringify({ cmd: 'status', '\u001b[31m\nx': 1 }), /Unrecognized key: .*\\x1b\[31m/],
      ['invalid UTF-8', Buffer.concat([Buffer.from('{"cmd":"ban","target":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}')]), /not valid UTF-8/],
      ['cut JSON', '{"cmd":"status"', /not JSON/],
      ['empty line', '', /empty line/],
      ['null', 'null', /expected a request/],
      ['an array', '[{"cmd":"status"}]', /expected a request/],
      ['a string', '"status"', /expected a request/],
      ['bad id', '{"cmd":"status","id":{"x":1}}', /id: expected a string of at most 64 characters or an integer/],
      ['limit 0', '{"cmd":"top","limit":0}', /limit:/],
    ];
    const c = await Raw.open(path);
    for (const [, line] of cases) c.send(Buffer.concat([Buffer.from(line), Buffer.from('\n')]));
    const replies = await c.take(cases.length);
    cases.forEach(([what, , field], i) => usage(replies[i], field, what));
    assert.deepEqual(received, [], 'the handler saw none of them');
    // An id that can be read is echoed on the error, so a pipelining client can match it.
    c.send('{"cmd":"nope","id":7}\n{"cmd":"status","id":"ok-1"}\n');
    const [bad, good] = (await c.take(cases.length + 2)).slice(cases.length);
    assert.equal(bad!.id, 7);
    assert.deepEqual(good, { ok: true, result: { cmd: 'status', id: 'ok-1' }, id: 'ok-1' });
    assert.deepEqual(received, [{ cmd: 'status', id: 'ok-1' }]);
    c.close();
  });

  it('defect 3: 2,000 seeded fuzzed requests: each bad one gets PAL_ERR_USAGE, only valid ones reach the handler, all in order', async (t) => {
    const { path, server, received } = await serve(t);
    const rnd = prng(0x1005eed);
    const cases = Array.from({ length: 2000 }, (_, i) => fuzzCase(rnd, i));
    const expected = cases.map((k) => verdict(k.bytes));
    for (const [i, k] of cases.entries()) if (k.valid) assert.ok(expected[i], `case ${i} is meant to be valid`);
    const c = await Raw.open(path);
    for (const k of cases) c.send(Buffer.concat([k.bytes, Buffer.from('\n')]));
    const replies = await c.take(cases.length, 60_000);
    const valid: Request[] = [];
    replies.forEach((r, i) => {
      const want = expected[i];
      if (want === null) return usage(r, /^bad request: /, `case ${i}: ${cases[i]!.bytes.subarray(0, 80).toString('latin1')}`);
      valid.push(want);
      assert.equal(r.ok, true, `case ${i}`);
      assert.deepEqual(r.id, want.id);
    });
    assert.ok(valid.length >= 200 && valid.length < 400, `${valid.length} valid cases`);
    assert.deepEqual(received, valid, 'the handler received exactly the valid requests, as the schema read them, in order');
    for (const r of received) wellFormed(r);
    const st = server.stats();
    assert.equal(st.requests, 2000);
    assert.equal(st.bad_requests, 2000 - valid.length);
    assert.equal(st.errors, 0);
    c.close();
  });

  it('defect 3: a line over 64 KiB is answered PAL_ERR_USAGE after the replies before it, then the connection closes', async (t) => {
    const { path, server, received } = await serve(t);
    const c = await Raw.open(path);
    c.send(`{"cmd":"status","id":1}\n{"cmd":"ban","target":"${'9'.repeat(70 * 1024)}"}\n{"cmd":"list","id":2}\n`);
    const replies = await c.take(2);
    assert.equal(replies[0]!.ok, true);
    usage(replies[1], /longer than 65536 bytes/, 'long line');
    await until(() => c.closed, 'the connection to close');
    assert.equal(c.replies.length, 2, 'nothing after the long line is read');
    assert.deepEqual(received, [{ cmd: 'status', id: 1 }]);
    assert.equal(server.stats().bad_requests, 1);
    // Without a newline at all, the cut comes at 64 KiB too.
    const d = await Raw.open(path);
    d.send('x'.repeat(65 * 1024));
    usage((await d.take(1))[0], /longer than/, 'endless line');
    await until(() => d.closed, 'the connection to close');
  });

  it('defect 3: a handler bug is PAL_ERR_INTERNAL with a generic message, reported through onError; PalisadeErrors pass', async (t) => {
    const faults: [unknown, Request | null][] = [];
    const { path, server } = await serve(
      t,
      async (r) => {
        if (r.cmd === 'history') throw new TypeError("Cannot read properties of undefined (reading 'until')");
        if (r.cmd === 'unban') throw Object.assign(new Error('SQLITE_CONSTRAINT: NOT NULL constraint failed: bans.until'), { code: 'SQLITE_CONSTRAINT' });
        if (r.cmd === 'ban') throw new PalisadeError('PAL_ERR_PROTECTED', `${r.target}: not banned: default gateway`);
        if (r.cmd === 'list') return { big: 10n }; // JSON cannot carry it
        return 'fine';
      },
      { onError: (e, req) => faults.push([e, req]) },
    );
    await assert.rejects(request(path, { cmd: 'history', target: '198.18.0.9' }), (e: PalisadeError) => e.code === 'PAL_ERR_INTERNAL' && e.message === 'internal error; see the daemon log');
    await assert.rejects(request(path, { cmd: 'unban', target: '198.18.0.9' }), (e: PalisadeError) => e.code === 'PAL_ERR_INTERNAL' && !/SQLITE/.test(e.message));
    await assert.rejects(request(path, { cmd: 'ban', target: '198.18.0.1', seconds: null, reason: null }), (e: PalisadeError) => e.code === 'PAL_ERR_PROTECTED' && /default gateway/.test(e.message));
    await assert.rejects(request(path, { cmd: 'list' }), (e: PalisadeError) => e.code === 'PAL_ERR_INTERNAL');
    assert.equal(await request(path, { cmd: 'status' }), 'fine', 'the server goes on');
    assert.equal(faults.length, 3);
    assert.match(String(faults[0]![0]), /TypeError/);
    assert.equal(faults[0]![1]!.cmd, 'history');
    assert.equal(faults[1]![1]!.cmd, 'unban');
    assert.equal(server.stats().errors, 3);
  });

  it('defect 4: 10,000 pipelined requests on one connection are all answered, in order, with their ids, with back-pressure', async (t) => {
    let running = 0;
    let most = 0;
    const { path, received } = await serve(t, async (r) => {
      most = Math.max(most, ++running);
      if ((r.id as number) % 3 === 0) await new Promise((z) => setImmediate(z)); // some slower than the next
      running--;
      return { n: r.id, pad: 'p'.repeat(1000) };
    });
    const c = await Raw.open(path);
    c.s.pause(); // read nothing at first: the server must stop, not buffer 10 MB of replies
    const lines = Array.from({ length: 10_000 }, (_, i) => `{"cmd":"status","id":${i}}\n`).join('');
    c.send(lines);
    await sleep(500);
    const stalled = received.length;
    assert.ok(stalled < 10_000, `the server went on without a reader (${stalled} handled)`);
    await sleep(200);
    assert.equal(received.length, stalled, 'stopped while the client reads nothing');
    c.s.resume();
    const replies = await c.take(10_000, 120_000);
    replies.forEach((r, i) => {
      assert.equal(r.id, i);
      assert.ok(r.ok && (r.result as { n: number }).n === i);
    });
    assert.equal(most, 1, 'one request at a time per connection');
    c.close();
  });

  it('defect 4: 500 idle connections against maxConnections 64: the excess is refused and counted; a fresh client is answered', async (t) => {
    const { path, server } = await serve(t, undefined, { maxConnections: 64, idleTimeoutMs: 60_000 });
    const clients = await Promise.all(Array.from({ length: 500 }, () => Raw.open(path)));
    t.after(() => clients.forEach((c) => c.close()));
    await until(() => clients.filter((c) => c.closed).length === 436, '436 refusals', 20_000);
    const refused = clients.filter((c) => c.closed);
    for (const c of refused) {
      assert.equal(c.replies.length, 1);
      const r = c.replies[0]!;
      assert.ok(!r.ok && r.code === 'PAL_ERR_CONTROL' && /too many control connections/.test(r.message));
    }
    assert.deepEqual({ ...server.stats() }, { connections: 64, max_connections: 64, accepted: 64, refused: 436, requests: 0, errors: 0, timeouts: 0, bad_requests: 0, idle_closed: 0 });
    // The 64 held still work; a fresh client is refused (with the reason) until one leaves.
    const held = clients.filter((c) => !c.closed);
    held[0]!.send('{"cmd":"list","id":"held"}\n');
    assert.equal((await held[0]!.take(1))[0]!.id, 'held');
    await assert.rejects(request(path, { cmd: 'status' }), (e: PalisadeError) => e.code === 'PAL_ERR_CONTROL' && /too many control connections/.test(e.message));
    for (const c of held.slice(0, 10)) c.close();
    await until(() => server.stats().connections === 54, 'the server to see them go');
    assert.equal(((await request(path, { cmd: 'status' })) as { cmd: string }).cmd, 'status');
    assert.equal(server.stats().refused, 437);
  });

  it('defect 4: idle connections, and ones trickling a line that never ends, are closed after idleTimeoutMs', async (t) => {
    const { path, server } = await serve(t, undefined, { idleTimeoutMs: 500 });
    const quiet = await Raw.open(path);
    const trickle = await Raw.open(path);
    const busy = await Raw.open(path);
    const tick = setInterval(() => {
      trickle.send(' '); // bytes, but never a complete request
      busy.send('{"cmd":"status"}\n'); // complete requests: stays
    }, 50);
    t.after(() => clearInterval(tick));
    await until(() => quiet.closed && trickle.closed, 'the idle connections to close', 5000);
    clearInterval(tick);
    assert.equal(busy.closed, false);
    assert.ok(busy.replies.length > 0 && busy.replies.every((r) => r.ok));
    await until(() => busy.closed, 'the last one to close once it stops', 5000);
    assert.equal(server.stats().idle_closed, 3);
    assert.equal(server.stats().connections, 0);
    assert.ok(await request(path, { cmd: 'status' }));
  });

  it('defect 4: a handler that never resolves gets a "timed out" reply, and the connection goes on', async (t) => {
    const { path, server } = await serve(t, (r) => (r.cmd === 'ban' ? new Promise(() => {}) : Promise.resolve('done')), { requestTimeoutMs: 200, idleTimeoutMs: 100 });
    const c = await Raw.open(path);
    c.send('{"cmd":"ban","target":"198.18.0.9","id":"slow"}\n{"cmd":"status","id":"next"}\n');
    const [slow, next] = await c.take(2); // the idle timer (100 ms) does not run while a request is answered
    assert.deepEqual(slow, { ok: false, code: 'PAL_ERR_CONTROL', message: 'ban: timed out after 200 ms', id: 'slow' });
    assert.deepEqual(next, { ok: true, result: 'done', id: 'next' });
    await assert.rejects(request(path, { cmd: 'ban', target: '198.18.0.9', seconds: null, reason: null }), (e: PalisadeError) => e.code === 'PAL_ERR_CONTROL' && /timed out/.test(e.message));
    assert.equal(server.stats().timeouts, 2);
  });

  it('defect 4: a client that leaves mid-request or mid-reply, or half-closes, does no harm', async (t) => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const { path, server, received } = await serve(t, async (r) => {
      if (r.cmd === 'ban') await gate;
      if (r.cmd === 'list') return 'x'.repeat(8 << 20); // a reply far larger than the socket buffer
      return 'ok';
    });
    const a = await Raw.open(path);
    a.send('{"cmd":"ban","target":"198.18.0.9"}\n{"cmd":"status"}\n{"cmd":"status"}\n');
    await until(() => received.length === 1, 'the handler to start');
    a.close();
    release();
    // The client's end looks like a half-close, so its queued requests may still run; the first
    // reply that cannot be delivered closes the connection and drops the rest.
    await until(() => server.stats().connections === 0, 'the server to see it go');
    assert.ok(received.length <= 3);
    const b = await Raw.open(path);
    b.send('{"cmd":"list"}\n');
    await sleep(100);
    b.close(); // mid-reply
    // Half-close: the client sends its requests and its end, and still gets every reply.
    const replies = await new Promise<string>((resolve, reject) => {
      const s = connect(path);
      let got = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => (got += d));
      s.on('end', () => resolve(got));
      s.on('error', reject);
      s.end('{"cmd":"status","id":1}\n{"cmd":"status","id":2}');
    });
    assert.deepEqual(replies.trim().split('\n').map((l) => (JSON.parse(l) as Reply).id), [1, 2]);
    assert.equal(await request(path, { cmd: 'status' }), 'ok');
    assert.equal(server.stats().errors, 0);
  });

  it('defect 4: close() closes every open connection', async (t) => {
    const { path, server } = await serve(t);
    const cs = await Promise.all(Array.from({ length: 5 }, () => Raw.open(path)));
    await until(() => server.stats().connections === 5, 'five connections');
    await server.close();
    await until(() => cs.every((c) => c.closed), 'every connection to close', 5000);
    assert.equal(await request(path, { cmd: 'status' }), null, 'no daemon now');
  });

  it('defect 4: an accept error after listening (EMFILE) is counted and reported, never thrown', async (t) => {
    const faults: unknown[] = [];
    const { path, server } = await serve(t, undefined, { onError: (e) => faults.push(e) });
    // libuv sheds connections itself while descriptors run out and reports only what it cannot
    // shed; that report is the net.Server's 'error' event, simulated here.
    const net = (server as unknown as { server: import('node:net').Server }).server;
    for (let i = 0; i < 3; i++) net.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' }));
    assert.equal(faults.length, 3);
    assert.equal(server.stats().errors, 3);
    assert.ok(await request(path, { cmd: 'status' }));
  });

  it('defect 4: at ulimit -n 64 a flood of clients is refused within the descriptors; with none left the server survives and answers once they return', async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'palisade.sock');
    const script = join(dir, 'daemon.mjs');
    const serverJs = fileURLToPath(new URL('../src/control/server.js', import.meta.url));
    writeFileSync(
      script,
      `// A daemon stand-in: the control server, a handler that spawns a tool (as nft would), and
// signals to use up every descriptor (SIGUSR1) and to give them back (SIGUSR2).
import { execFileSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { ControlServer } from ${JSON.stringify(serverJs)};
let logged = 0;
const server = new ControlServer(process.argv[2], async (r) => {
  if (r.cmd === 'list') return execFileSync('true').length === 0 ? 'spawned' : 'odd';
  return server.stats();
}, { onError: (e) => { if (logged++ < 3) process.stderr.write('fault ' + e.code + '\\n'); } });
await server.listen();
const hoard = [];
process.on('SIGUSR1', () => {
  try { for (;;) hoard.push(openSync('/dev/null', 'r')); } catch (e) { process.stdout.write('hoarded ' + e.code + '\\n'); }
});
process.on('SIGUSR2', () => { for (const fd of hoard.splice(0)) closeSync(fd); process.stdout.write('released\\n'); });
process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
process.stdout.write('ready\\n');
`,
    );
    // Node's ESM loader opens zod's ~50 locale modules at once, so the child cannot even load at
    // 64 descriptors: it starts at 128 and is lowered to 64 (soft and hard) once it listens.
    const child = spawn('bash', ['-c', `ulimit -n 128 && exec "${process.execPath}" "${script}" "${path}"`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    t.after(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    const alive = (): void => assert.equal(child.exitCode, null, `the server died: ${err}`);
    await until(() => out.includes('ready') || child.exitCode !== null, 'the child to listen');
    alive();
    const lowered = sh(`prlimit --pid ${child.pid} --nofile=64:64 && grep 'Max open files' /proc/${child.pid}/limits`);
    assert.match(lowered.stdout, /Max open files\s+64\s+64/, lowered.stderr);
    await sleep(1100); // the limit is re-read at most once a second

    // A flood: a quarter of the descriptors (16) are served, the rest refused with the reason.
    const flood = async (n: number): Promise<Raw[]> => {
      const cs: Raw[] = [];
      for (let i = 0; i < n; i++) cs.push(await Raw.open(path));
      return cs;
    };
    const clients = await flood(200);
    await until(() => clients.filter((c) => c.closed).length === 184, '184 refusals');
    for (const c of clients.filter((k) => k.closed)) assert.match((c.replies[0] as { message: string }).message, /too many control connections \(16 open\)/);
    alive();
    const held = clients.filter((c) => !c.closed);
    held[0]!.send('{"cmd":"list","id":"spawn"}\n');
    assert.deepEqual((await held[0]!.take(1))[0], { ok: true, result: 'spawned', id: 'spawn' }, 'descriptors are left for the firewall tools');
    for (const c of clients) c.close();
    await sleep(200);
    const st = (await request(path, { cmd: 'status' })) as { refused: number; max_connections: number; accepted: number };
    assert.equal(st.max_connections, 16);
    assert.equal(st.refused, 184);

    // No descriptor left at all (something else took them): accepts fail, libuv sheds the
    // connections, and the server lives on.
    child.kill('SIGUSR1');
    await until(() => out.includes('hoarded EMFILE'), 'the descriptors to run out');
    const shed = await flood(30);
    await until(() => shed.every((c) => c.closed), 'the connections to be shed');
    await sleep(200);
    alive();
    child.kill('SIGUSR2');
    await until(() => out.includes('released'), 'the descriptors to come back');
    const after = (await request(path, { cmd: 'status' })) as { connections: number };
    assert.equal(after.connections, 1);
    alive();
    child.kill('SIGTERM');
    await until(() => child.exitCode !== null, 'the child to stop');
    assert.equal(child.exitCode, 0, err);
  });

  it('client: sends an id and matches the reply; rejects a reply that is not JSON, lacks ok, or answers another id', async (t) => {
    const dir = tempDir(t);
    const fake = async (answer: (line: string) => string): Promise<string> => {
      const path = join(dir, `fake-${Math.random().toString(36).slice(2)}.sock`);
      const srv = createServer((s) => {
        s.setEncoding('utf8');
        let buf = '';
        s.on('data', (d: string) => {
          buf += d;
          if (buf.includes('\n')) s.end(answer(buf.slice(0, buf.indexOf('\n'))));
        });
        s.on('error', () => {});
      });
      await new Promise<void>((r) => srv.listen(path, () => r()));
      t.after(() => new Promise<void>((r) => srv.close(() => r())));
      return path;
    };
    const control = (e: PalisadeError, re: RegExp): boolean => e.code === 'PAL_ERR_CONTROL' && re.test(e.message);
    let sent: Record<string, unknown> = {};
    const echo = await fake((l) => {
      sent = JSON.parse(l) as Record<string, unknown>;
      return `${JSON.stringify({ ok: true, result: 'r', id: sent.id })}\n`;
    });
    assert.equal(await request(echo, { cmd: 'status' }), 'r');
    assert.ok(typeof sent.id === 'string' && (sent.id as string).length > 0, 'an id is sent');
    assert.doesNotThrow(() => parseRequest(sent), 'what the client sends is a valid request');
    assert.equal(await request(await fake(() => '{"ok":true,"result":5}\n'), { cmd: 'list' }), 5, 'a reply without id is ours');
    await assert.rejects(request(await fake(() => 'hello\n'), { cmd: 'list' }), (e: PalisadeError) => control(e, /not JSON/));
    await assert.rejects(request(await fake(() => '{"result":1}\n'), { cmd: 'list' }), (e: PalisadeError) => control(e, /without ok/));
    await assert.rejects(request(await fake(() => '{"ok":false}\n'), { cmd: 'list' }), (e: PalisadeError) => control(e, /without ok/));
    await assert.rejects(request(await fake(() => '{"ok":true,"result":1,"id":"other"}\n'), { cmd: 'list' }), (e: PalisadeError) => control(e, /answered request "other"/));
    await assert.rejects(request(await fake(() => ''), { cmd: 'list' }), (e: PalisadeError) => control(e, /closed the connection without a reply/));
    await assert.rejects(request(await fake(() => '{"ok":false,"code":"toString","message":"m"}\n'), { cmd: 'list' }), (e: PalisadeError) => control(e, /^m$/));
    assert.equal(await request(join(dir, 'none.sock'), { cmd: 'list' }), null, 'no daemon: null');
  });
});
