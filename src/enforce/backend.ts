// The firewall backend contract, shared by nftables, ipset, iptables and dry-run: create what is
// missing at init (touching nothing else), queue adds and deletes, apply them as one batch per
// commit, and report metrics. Also the one helper that runs firewall tools.

import { spawn } from 'node:child_process';
import type { Cidr } from '../core/addr.js';
import { PalisadeError } from '../core/errors.js';

/** A ban as the kernel sees it: a prefix until a time (wall seconds). */
export interface BanEntry {
  key: string;
  scope: Cidr;
  until: number;
}

/** An entry found in the firewall at init: its key and its end (wall seconds; null: none). */
export interface KernelEntry {
  key: string;
  until: number | null;
}

export interface FirewallBackend {
  readonly name: string;
  /** True when the kernel ends bans by itself (element timeouts): expiry needs no delete. */
  readonly kernelExpiry: boolean;
  /**
   * The longest timeout (seconds) the kernel takes for one element; Infinity when none. A ban
   * that ends later is written with this timeout and must be re-added before it runs out.
   */
  readonly maxTimeout: number;
  /** Creates the table, sets, chains and rules that are missing; returns the bans present. */
  init(): Promise<KernelEntry[]>;
  /** Queues an add (its `until` must be finite: else PAL_ERR_FIREWALL); returns the queued op. */
  add(e: BanEntry): Op;
  delete(key: string, scope: Cidr): Op;
  /** Changes queued and not yet applied. */
  readonly pending: number;
  /** The queued changes, oldest first (a copy). */
  queued(): Op[];
  /**
   * Applies the queued changes (or only `ops`, queued ones in queue order) as one batch and
   * removes them from the queue. On failure it throws PAL_ERR_FIREWALL (a `FirewallToolError`
   * when a tool failed) and keeps them queued, so the next commit retries them (after init again).
   */
  commit(now: number, ops?: readonly Op[]): Promise<number>;
  /** Drops queued ops unapplied (quarantined: the firewall refuses them). */
  discard(ops: readonly Op[]): void;
  /** Called on exit: with `flush`, removes every ban and Palisade's rules; else leaves them. */
  shutdown(flush: boolean): Promise<void>;
  metrics(): Record<string, number>;
}

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a firewall tool with `input` on stdin. A missing binary is exit 127 ("not found"), a
 * hung one is killed after `timeoutMs` (exit 124), one that cannot be started (EMFILE, EACCES)
 * is exit 126. Never throws.
 */
export function runTool(cmd: string, args: readonly string[], input = '', timeoutMs = 30000): Promise<ToolResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const done = (r: ToolResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const failed = (e: NodeJS.ErrnoException): void =>
      done({ code: e.code === 'ENOENT' ? 127 : 126, stdout, stderr: e.code === 'ENOENT' ? `${cmd}: command not found` : `${cmd}: ${e.message}` });
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (e) {
      failed(e as NodeJS.ErrnoException);
      return;
    }
    // First, so that a spawn that fails (EMFILE: no stdio either) is an answer, not a throw.
    child.on('error', failed);
    if (!child.stdout || !child.stderr || !child.stdin) return; // the 'error' event follows
    timer = setTimeout(() => {
      child.kill('SIGKILL');
      done({ code: 124, stdout, stderr: `${stderr}${cmd}: timed out after ${timeoutMs} ms` });
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (code, signal) => done({ code: code ?? 128, stdout, stderr: signal ? `${stderr}${cmd}: killed by ${signal}` : stderr }));
    child.stdin.on('error', () => {}); // EPIPE when the tool exits early; its exit code tells
    child.stdin.end(input);
  });
}

/**
 * A firewall tool that failed. `refused`: it ran and rejected its input (exit 1..123 with a
 * message), so a smaller batch may pass; otherwise it is missing (127), could not start (126),
 * hung (124) or was killed, and nothing would pass.
 */
export class FirewallToolError extends PalisadeError {
  constructor(
    message: string,
    readonly result: ToolResult,
  ) {
    super('PAL_ERR_FIREWALL', message);
  }

  get refused(): boolean {
    return this.result.code >= 1 && this.result.code <= 123;
  }
}

/** True when `e` is a tool that ran and refused its input (see `FirewallToolError.refused`). */
export function isRefusal(e: unknown): boolean {
  return e instanceof FirewallToolError && e.refused;
}

/** Runs a tool and throws PAL_ERR_FIREWALL with its message when it fails. */
export async function mustRun(cmd: string, args: readonly string[], input = ''): Promise<string> {
  const r = await runTool(cmd, args, input);
  if (r.code !== 0) throw toolError(cmd, args, r);
  return r.stdout;
}

export function toolError(cmd: string, args: readonly string[], r: ToolResult): FirewallToolError {
  const msg = r.stderr.trim().split('\n').slice(0, 3).join(' | ') || `exit ${r.code}`;
  return new FirewallToolError(`${cmd} ${args.join(' ')}: ${msg}`, r);
}

/**
 * The timeout to write for a ban ending at `until`: whole seconds, at least 1, at most `cap`.
 * Never NaN or Infinity (`add` refuses entries whose end is not finite).
 */
export function timeoutSeconds(until: number, now: number, cap: number): number {
  const s = Math.round(until - now);
  return Number.isFinite(s) ? Math.min(cap, Math.max(1, s)) : 1;
}

export type Op = { op: 'add'; e: BanEntry } | { op: 'del'; key: string; scope: Cidr };

/**
 * What every backend shares: the queue of adds and deletes in order, the commit that applies
 * them (all, or a subset while bisecting) as one batch, keeping them queued when it fails, and
 * the counters.
 */
export abstract class QueuedBackend implements FirewallBackend {
  abstract readonly name: string;
  abstract readonly kernelExpiry: boolean;
  abstract readonly maxTimeout: number;
  protected ops: Op[] = [];
  protected readonly m = { commits: 0, failures: 0, added: 0, deleted: 0, batch_max: 0, quarantined: 0 };

  get pending(): number {
    return this.ops.length;
  }

  queued(): Op[] {
    return this.ops.slice();
  }

  add(e: BanEntry): Op {
    if (!Number.isFinite(e.until)) throw new PalisadeError('PAL_ERR_FIREWALL', `ban of ${e.key}: its end (${e.until}) is not a finite time`);
    const o: Op = { op: 'add', e };
    this.ops.push(o);
    return o;
  }

  delete(key: string, scope: Cidr): Op {
    const o: Op = { op: 'del', key, scope };
    this.ops.push(o);
    return o;
  }

  discard(ops: readonly Op[]): void {
    const drop = new Set(ops);
    const before = this.ops.length;
    this.ops = this.ops.filter((o) => !drop.has(o));
    this.m.quarantined += before - this.ops.length;
  }

  abstract init(): Promise<KernelEntry[]>;
  abstract shutdown(flush: boolean): Promise<void>;

  /**
   * Applies `ops` as one batch, building it before its first await; returns the changes made;
   * throws on failure.
   */
  protected abstract apply(ops: readonly Op[], now: number): Promise<number>;

  /** Bookkeeping for one op once its batch applied. */
  protected applied(_o: Op, _now: number): void {}

  async commit(now: number, only?: readonly Op[]): Promise<number> {
    const ops = only ? only.slice() : this.ops.slice();
    if (ops.length === 0) return 0;
    let changes: number;
    try {
      changes = await this.apply(ops, now);
    } catch (e) {
      this.m.failures++;
      throw e;
    }
    const done = new Set(ops);
    this.ops = this.ops.filter((o) => !done.has(o));
    for (const o of ops) {
      this.m[o.op === 'add' ? 'added' : 'deleted']++;
      this.applied(o, now);
    }
    this.m.commits++;
    this.m.batch_max = Math.max(this.m.batch_max, changes);
    return changes;
  }

  metrics(): Record<string, number> {
    return { ...this.m, pending: this.ops.length };
  }
}

/** Runs a tool with a batch on stdin; throws PAL_ERR_FIREWALL when it fails. */
export async function applyBatch(cmd: string, args: readonly string[], text: string): Promise<void> {
  if (text === '') return;
  const r = await runTool(cmd, args, text);
  if (r.code !== 0) throw toolError(cmd, args, r);
}
