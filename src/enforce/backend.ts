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
  /** Creates the table, sets, chains and rules that are missing; returns the bans present. */
  init(): Promise<KernelEntry[]>;
  add(e: BanEntry): void;
  delete(key: string, scope: Cidr): void;
  /** Changes queued and not yet applied. */
  readonly pending: number;
  /**
   * Applies the queued changes as one batch. On failure it throws PAL_ERR_FIREWALL and keeps
   * them queued, so the next commit retries them (after init again).
   */
  commit(now: number): Promise<number>;
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
 * hung one is killed after `timeoutMs`. Never throws.
 */
export function runTool(cmd: string, args: readonly string[], input = '', timeoutMs = 30000): Promise<ToolResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let settled = false;
    const done = (r: ToolResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      done({ code: 124, stdout, stderr: `${stderr}${cmd}: timed out after ${timeoutMs} ms` });
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (e: NodeJS.ErrnoException) =>
      done({ code: e.code === 'ENOENT' ? 127 : 126, stdout, stderr: e.code === 'ENOENT' ? `${cmd}: command not found` : `${cmd}: ${e.message}` }),
    );
    child.on('close', (code, signal) => done({ code: code ?? 128, stdout, stderr: signal ? `${stderr}${cmd}: killed by ${signal}` : stderr }));
    child.stdin.on('error', () => {}); // EPIPE when the tool exits early; its exit code tells
    child.stdin.end(input);
  });
}

/** Runs a tool and throws PAL_ERR_FIREWALL with its message when it fails. */
export async function mustRun(cmd: string, args: readonly string[], input = ''): Promise<string> {
  const r = await runTool(cmd, args, input);
  if (r.code !== 0) throw toolError(cmd, args, r);
  return r.stdout;
}

export function toolError(cmd: string, args: readonly string[], r: ToolResult): PalisadeError {
  const msg = r.stderr.trim().split('\n').slice(0, 3).join(' | ') || `exit ${r.code}`;
  return new PalisadeError('PAL_ERR_FIREWALL', `${cmd} ${args.join(' ')}: ${msg}`);
}

/** Seconds left until `until`, as whole milliseconds for tools that take them (at least 1 s). */
export function remainingMs(until: number, now: number): number {
  return Math.max(1000, Math.round((until - now) * 1000));
}

export type Op = { op: 'add'; e: BanEntry } | { op: 'del'; key: string; scope: Cidr };

/**
 * What every backend shares: the queue of adds and deletes in order, the commit that applies
 * them as one batch (keeping them queued when it fails), and the counters.
 */
export abstract class QueuedBackend implements FirewallBackend {
  abstract readonly name: string;
  abstract readonly kernelExpiry: boolean;
  protected ops: Op[] = [];
  protected readonly m = { commits: 0, failures: 0, added: 0, deleted: 0, batch_max: 0 };

  get pending(): number {
    return this.ops.length;
  }

  add(e: BanEntry): void {
    this.ops.push({ op: 'add', e });
  }

  delete(key: string, scope: Cidr): void {
    this.ops.push({ op: 'del', key, scope });
  }

  abstract init(): Promise<KernelEntry[]>;
  abstract shutdown(flush: boolean): Promise<void>;

  /**
   * Applies every queued op as one batch, building it before its first await (ops queued
   * meanwhile wait for the next commit); returns the changes made; throws on failure.
   */
  protected abstract apply(now: number): Promise<number>;

  /** Bookkeeping for one op once its batch applied. */
  protected applied(_o: Op, _now: number): void {}

  async commit(now: number): Promise<number> {
    const n = this.ops.length;
    if (n === 0) return 0;
    let changes: number;
    try {
      changes = await this.apply(now);
    } catch (e) {
      this.m.failures++;
      throw e;
    }
    for (const o of this.ops.splice(0, n)) {
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
