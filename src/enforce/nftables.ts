// The nftables backend (the default): Palisade's own `table inet <name>` with two interval sets
// (IPv4, IPv6) whose elements carry the ban's timeout, so the kernel ends bans even if Palisade
// dies, and a drop rule in an input and a forward chain. Every commit is one atomic `nft -f`
// batch. Nothing outside the table is touched.

import { Cidr } from '../core/addr.js';
import { QueuedBackend, applyBatch, mustRun, runTool, timeoutSeconds, type KernelEntry, type Op } from './backend.js';

/** Runs before the usual filter chains (priority 0), so a ban also cuts established flows. */
const PRIORITY = -10;

/**
 * The longest element timeout written: 100 years. The kernel takes more (its limit is some
 * centuries), but this keeps far from it; a longer ban is refreshed by the Enforcer.
 */
const MAX_TIMEOUT = 36500 * 86400;

/**
 * A timeout as nft 1.0.6 parses it: `XdYhZmWs`. A plain number of ms or s of 10^8 and up is
 * refused ("value too large"), which a 7-day ban in ms (604800000ms) already is.
 */
export function nftDuration(seconds: number): string {
  const parts: string[] = [];
  let left = seconds;
  for (const [unit, size] of [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    const n = Math.floor(left / size);
    left -= n * size;
    if (n > 0) parts.push(`${n}${unit}`);
  }
  return parts.length ? parts.join('') : '1s';
}

export class NftablesBackend extends QueuedBackend {
  readonly name = 'nftables';
  readonly kernelExpiry = true;
  readonly maxTimeout = MAX_TIMEOUT;
  /** Elements the kernel may hold, with their end (wall seconds): from init and commits. */
  private readonly present = new Map<string, number>();
  private nextSweep = 0;

  constructor(
    private readonly table = 'palisade',
    private readonly nft = 'nft',
  ) {
    super();
  }

  private set(scope: Cidr): string {
    return scope.addr.v6 ? 'ban6' : 'ban4';
  }

  /** The whole skeleton, as `add` statements: a no-op for the parts that exist. */
  private skeleton(): string {
    const t = `inet ${this.table}`;
    const lines = [`add table ${t}`];
    for (const [set, type] of [
      ['ban4', 'ipv4_addr'],
      ['ban6', 'ipv6_addr'],
    ]) {
      lines.push(`add set ${t} ${set} { type ${type}; flags interval, timeout; }`);
    }
    for (const chain of ['input', 'forward']) {
      lines.push(`add chain ${t} ${chain} { type filter hook ${chain} priority ${PRIORITY}; policy accept; }`);
      // The chain is ours: its rules are rewritten, so a restart never duplicates them.
      lines.push(`flush chain ${t} ${chain}`);
      lines.push(`add rule ${t} ${chain} ip saddr @ban4 counter drop`);
      lines.push(`add rule ${t} ${chain} ip6 saddr @ban6 counter drop`);
    }
    return `${lines.join('\n')}\n`;
  }

  async init(): Promise<KernelEntry[]> {
    await mustRun(this.nft, ['-f', '-'], this.skeleton());
    const out: KernelEntry[] = [];
    const now = Date.now() / 1000;
    for (const set of ['ban4', 'ban6']) {
      const json = JSON.parse(await mustRun(this.nft, ['-j', 'list', 'set', 'inet', this.table, set])) as {
        nftables: { set?: { elem?: unknown[] } }[];
      };
      for (const item of json.nftables) {
        for (const el of item.set?.elem ?? []) {
          const e = el as { elem?: { val: unknown; expires?: number } } | string | { prefix: { addr: string; len: number } };
          const inner = typeof e === 'object' && 'elem' in e ? e.elem! : { val: e, expires: undefined };
          const key = elemKey(inner.val);
          if (!key) continue;
          const until = inner.expires === undefined ? null : now + inner.expires;
          out.push({ key, until });
          this.present.set(key, until ?? Infinity);
        }
      }
    }
    return out;
  }

  /**
   * The batch text. New elements of a run of adds go in one statement per set. Re-adding an
   * element the kernel may still hold would keep its old timeout, so such an add first makes
   * sure it exists (with a short timeout), deletes it and adds it again. A delete also makes
   * sure the element exists first, so one that the kernel already expired cannot fail the batch.
   */
  batch(queue: readonly Op[], now: number): { text: string; ops: number } {
    const t = `inet ${this.table}`;
    const lines: string[] = [];
    const fresh: Record<string, string[]> = { ban4: [], ban6: [] };
    const flushFresh = (): void => {
      for (const set of ['ban4', 'ban6']) {
        if (fresh[set]!.length) lines.push(`add element ${t} ${set} { ${fresh[set]!.join(', ')} }`);
        fresh[set] = [];
      }
    };
    const ensureGone = (set: string, el: string): void => {
      lines.push(`add element ${t} ${set} { ${el} timeout 1s }`, `delete element ${t} ${set} { ${el} }`);
    };
    let ops = 0;
    // What this batch has done to each key so far: the kernel's state within the batch is then
    // known, so an element is made sure of (add-then-delete) at most once: nft 1.0.6 refuses a
    // second add/delete round of the same interval element in one transaction.
    const state = new Map<string, 'added' | 'gone'>();
    for (const o of queue) {
      const scope = o.op === 'add' ? o.e.scope : o.scope;
      const key = o.op === 'add' ? o.e.key : o.key;
      const set = this.set(scope);
      const el = elemText(scope);
      const was = state.get(key);
      if (o.op === 'add') {
        if (o.e.until <= now) continue;
        const item = `${el} timeout ${nftDuration(timeoutSeconds(o.e.until, now, MAX_TIMEOUT))}`;
        if (was === undefined && !this.present.has(key)) fresh[set]!.push(item);
        else {
          flushFresh();
          if (was === 'added') lines.push(`delete element ${t} ${set} { ${el} }`);
          else if (was === undefined) ensureGone(set, el);
          lines.push(`add element ${t} ${set} { ${item} }`);
        }
        state.set(key, 'added');
      } else {
        if (was !== 'gone') {
          flushFresh();
          if (was === 'added') lines.push(`delete element ${t} ${set} { ${el} }`);
          else ensureGone(set, el);
        }
        state.set(key, 'gone');
      }
      ops++;
    }
    flushFresh();
    return { text: lines.length ? `${lines.join('\n')}\n` : '', ops };
  }

  protected async apply(queue: readonly Op[], now: number): Promise<number> {
    const { text, ops } = this.batch(queue, now);
    await applyBatch(this.nft, ['-f', '-'], text);
    return ops;
  }

  protected override applied(o: Op, now: number): void {
    if (o.op === 'add') this.present.set(o.e.key, Math.min(o.e.until, now + MAX_TIMEOUT));
    else this.present.delete(o.key);
    this.sweep(now);
  }

  /** Forgets elements well past their end (gone from the kernel: a later add is fresh); every 5 s at most. */
  private sweep(now: number): void {
    if (now < this.nextSweep) return;
    this.nextSweep = now + 5;
    for (const [k, until] of this.present) if (until + 5 < now) this.present.delete(k);
  }

  async shutdown(flush: boolean): Promise<void> {
    if (!flush) return;
    await runTool(this.nft, ['delete', 'table', 'inet', this.table]);
    this.present.clear();
  }

  /** Packets dropped by the ban rules, read from their counters. */
  async dropped(): Promise<number> {
    const r = await runTool(this.nft, ['-j', 'list', 'table', 'inet', this.table]);
    if (r.code !== 0) return 0;
    let n = 0;
    for (const item of (JSON.parse(r.stdout) as { nftables: { rule?: { expr: { counter?: { packets: number } }[] } }[] }).nftables) {
      for (const x of item.rule?.expr ?? []) n += x.counter?.packets ?? 0;
    }
    return n;
  }

}

/** An nft element: a bare address for a host prefix, else addr/len. */
function elemText(scope: Cidr): string {
  return scope.isHost ? scope.addr.toString() : scope.toString();
}

/** The key of an element in `nft -j` output: "a.b.c.d", {prefix:{addr,len}} or {range:[a,b]}. */
function elemKey(val: unknown): string | null {
  if (typeof val === 'string') return Cidr.parse(val)?.toString() ?? null;
  const p = (val as { prefix?: { addr: string; len: number } }).prefix;
  if (p) return Cidr.parse(`${p.addr}/${p.len}`)?.toString() ?? null;
  return null;
}
