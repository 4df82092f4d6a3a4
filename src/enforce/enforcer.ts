// The enforce stage: applies the policy's bans and lifts through one firewall backend. Changes
// are batched: everything that arrives while a commit runs goes in the next one. A failed commit
// (tool missing, kernel refusing) never stops detection: it is reported, and retried with
// exponential backoff after re-creating the backend's tables, until the firewall is back. A
// batch the firewall itself refuses is bisected, so one bad change is quarantined and never
// holds the others back. Bans longer than the kernel's timeout cap are re-added before it ends.

import type { Cidr } from '../core/addr.js';
import { PalisadeError } from '../core/errors.js';
import type { Ban, Lift } from '../core/notice.js';
import { isRefusal, type FirewallBackend, type KernelEntry, type Op } from './backend.js';

/** What became of one change (a ban's add, a lift's delete) in the firewall. */
export interface ChangeResult {
  op: 'add' | 'del';
  key: string;
  scope: Cidr;
  /** The ban's end (wall seconds) for an add; null for a delete. */
  until: number | null;
  /**
   * `applied`: its batch is in the kernel. `failed`: its first failed attempt in a streak (it
   * stays queued and is retried; reported once). `quarantined`: the firewall refuses it alone
   * (found by bisecting a failed batch), or its end is not a finite time: dropped, never retried.
   */
  status: 'applied' | 'failed' | 'quarantined';
  error?: string;
}

export interface EnforcerOptions {
  retryInitial: number;
  retryMax: number;
  /** Wall time in seconds (tests may move it). */
  now?: () => number;
  onError?: (e: PalisadeError, retryIn: number) => void;
  onRecovered?: (afterFailures: number) => void;
  /** Each ban's and lift's result (refreshes report through `onRefresh`). */
  onResult?: (r: ChangeResult) => void;
  /** A ban longer than the backend's `maxTimeout` was re-added: the kernel now holds it until `kernelUntil`. */
  onRefresh?: (key: string, kernelUntil: number) => void;
  /** How often refreshes due are looked for (seconds; default 3600, less for a small cap). */
  refreshEvery?: number;
}

/** The latency window kept for p50/p99: the most recent samples. */
const LATENCY_SAMPLES = 4096;

/** Bisection of a refused batch stops after this many tool runs per bad op allowed (times log2 n). */
const BISECT_BAD_OPS = 8;

/** A queued op's bookkeeping: when it was queued (performance.now()), and its kind. */
interface Meta {
  at: number;
  refresh: boolean;
  /** Reported `failed` in the current streak. */
  failed: boolean;
}

/** A ban that ends after the kernel's cap: it is re-added before the kernel drops it. */
interface LongBan {
  scope: Cidr;
  until: number;
  /** When the kernel drops it (null: its add is not applied yet). */
  kernelUntil: number | null;
  /** The queued add (ban or refresh) whose application sets `kernelUntil`. */
  op: Op | null;
}

export class Enforcer {
  private committing: Promise<void> | null = null;
  private scheduled = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  private ready = false;
  private failures = 0;
  private backoff: number;
  private lastError: string | null = null;
  private readonly meta = new Map<Op, Meta>();
  private readonly long = new Map<string, LongBan>();
  private readonly counts = { quarantined: 0, refreshed: 0 };
  private readonly latency = new Float64Array(LATENCY_SAMPLES);
  private latencyN = 0;
  private readonly now: () => number;
  private stopped = false;
  /** Called after each successful commit (benchmarks, tests). */
  onCommit: (() => void) | null = null;

  constructor(
    readonly backend: FirewallBackend,
    private readonly opts: EnforcerOptions,
  ) {
    this.backoff = opts.retryInitial;
    this.now = opts.now ?? (() => Date.now() / 1000);
  }

  /**
   * Creates the backend's tables and returns what the firewall holds. A failure is reported and
   * retried later; bans queued meanwhile are applied once it succeeds.
   */
  async start(): Promise<KernelEntry[] | null> {
    try {
      const present = await this.backend.init();
      this.ready = true;
      return present;
    } catch (e) {
      this.fail(e);
      return null;
    }
  }

  /**
   * Queues a ban. One whose end is not a finite time is refused (reported `quarantined`), so it
   * never reaches a batch. One that ends after `now + backend.maxTimeout` is refreshed.
   */
  ban(b: Ban): void {
    if (!Number.isFinite(b.until)) {
      this.counts.quarantined++;
      this.opts.onResult?.({ op: 'add', key: b.key, scope: b.scope, until: b.until, status: 'quarantined', error: `ban of ${b.key}: its end (${b.until}) is not a finite time; not applied` });
      return;
    }
    const o = this.queue(this.backend.add({ key: b.key, scope: b.scope, until: b.until }), false);
    this.long.delete(b.key);
    if (b.until > this.now() + this.backend.maxTimeout) {
      this.long.set(b.key, { scope: b.scope, until: b.until, kernelUntil: null, op: o });
      this.startRefreshTimer();
    }
  }

  /**
   * A ban found in the kernel (at init) that the kernel holds until `kernelUntil`: refreshed
   * like one this Enforcer added, when it ends after the backend's cap. Queues nothing.
   */
  watch(b: Ban, kernelUntil: number): void {
    this.long.delete(b.key);
    if (!Number.isFinite(b.until) || b.until <= kernelUntil) return;
    this.long.set(b.key, { scope: b.scope, until: b.until, kernelUntil, op: null });
    this.startRefreshTimer();
  }

  lift(l: Lift): void {
    this.long.delete(l.ban.key);
    // The kernel ends timed elements itself; deleting them is only for early lifts. A quarantined
    // ban never reached the kernel (and a delete of it might be refused in turn).
    if ((l.reason === 'expired' && this.backend.kernelExpiry) || l.reason === 'quarantined') return;
    this.queue(this.backend.delete(l.ban.key, l.ban.scope), false);
  }

  private queue(o: Op, refresh: boolean): Op {
    this.meta.set(o, { at: performance.now(), refresh, failed: false });
    this.schedule();
    return o;
  }

  /**
   * Re-adds each ban beyond the kernel's cap whose kernel timeout ends within the margin (a day,
   * or a tenth of the cap if less), with min(remaining, cap). Returns how many were queued.
   * Runs from an hourly timer; tests call it with a moved clock.
   */
  refreshDue(now = this.now()): number {
    const cap = this.backend.maxTimeout;
    const margin = Math.min(86400, cap / 10);
    let n = 0;
    for (const [key, b] of this.long) {
      if (b.until <= now) this.long.delete(key);
      else if (b.op === null && b.kernelUntil !== null && b.kernelUntil - now < margin) {
        b.op = this.queue(this.backend.add({ key, scope: b.scope, until: b.until }), true);
        n++;
      }
    }
    return n;
  }

  private startRefreshTimer(): void {
    if (this.refreshTimer || this.stopped) return;
    const every = this.opts.refreshEvery ?? Math.min(3600, this.backend.maxTimeout / 40);
    this.refreshTimer = setInterval(() => this.refreshDue(), every * 1000);
    this.refreshTimer.unref();
  }

  private schedule(): void {
    if (this.scheduled || this.committing || this.retryTimer || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.commit();
    });
  }

  /** Commits what is queued now; resolves when it is applied or has failed. */
  commit(): Promise<void> {
    if (this.committing) return this.committing;
    this.committing = this.run().finally(() => {
      this.committing = null;
      if (this.backend.pending > 0 && !this.retryTimer) this.schedule();
    });
    return this.committing;
  }

  /**
   * One commit of everything queued now. A batch the firewall refuses is tried once more after
   * init (the table may have been removed); refused again, it is bisected. Any other failure
   * (tool missing, hung, not startable) keeps the batch queued for the backoff retry.
   */
  private async run(): Promise<void> {
    const batch = this.backend.queued();
    if (batch.length === 0) return;
    const now = this.now();
    let err: unknown = null;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        if (!this.ready || attempt > 0) {
          this.ready = false;
          await this.backend.init();
          this.ready = true;
        }
        await this.backend.commit(now, batch);
        this.settle(batch, now);
        err = null;
        break;
      } catch (e) {
        err = e;
        if (!isRefusal(e)) break;
      }
    }
    if (err !== null && this.ready && isRefusal(err)) err = await this.bisect(batch, now, err);
    if (err !== null) {
      this.ready = false; // re-create tables before the retry (someone may have removed them)
      const msg = (err as Error).message ?? String(err);
      const still = new Set(this.backend.queued());
      for (const o of batch) {
        const m = this.meta.get(o);
        if (!m || m.failed || !still.has(o)) continue;
        m.failed = true;
        if (!m.refresh) this.report(o, 'failed', msg);
      }
      this.fail(err);
      return;
    }
    if (this.failures > 0) this.opts.onRecovered?.(this.failures);
    this.failures = 0;
    this.backoff = this.opts.retryInitial;
    this.lastError = null;
    this.onCommit?.();
  }

  /**
   * Finds the ops the firewall refuses alone in a refused batch: applies halves in queue order,
   * recursively, and quarantines the single ops that fail (and fail again alone once the others
   * applied). Stops after O(k log n) tool runs. When nothing at all applied, the fault is the
   * firewall's (systemic): nothing is quarantined and the error is returned for the backoff
   * retry; else null (what is left unresolved is retried).
   */
  private async bisect(batch: Op[], now: number, first: unknown): Promise<unknown> {
    const budget = 2 * BISECT_BAD_OPS * (Math.ceil(Math.log2(batch.length)) + 1);
    let runs = 0;
    let appliedAny = false;
    let abort: unknown = null;
    const bad: { o: Op; error: string }[] = [];
    const split = async (seg: Op[]): Promise<void> => {
      const mid = seg.length >> 1;
      for (const half of [seg.slice(0, mid), seg.slice(mid)]) {
        if (abort !== null || runs >= budget) return;
        runs++;
        try {
          if ((await this.backend.commit(now, half)) > 0) appliedAny = true;
          this.settle(half, now);
        } catch (e) {
          if (!isRefusal(e)) abort = e;
          else if (half.length === 1) bad.push({ o: half[0]!, error: (e as Error).message });
          else await split(half);
        }
      }
    };
    if (batch.length > 1) await split(batch);
    else bad.push({ o: batch[0]!, error: (first as Error).message });
    if (abort !== null) return abort;
    if (!appliedAny) return first;
    // Confirmed alone once more, after the others applied: a fault that ended meanwhile (the
    // tool back) must not quarantine an op the firewall takes.
    const refused: { o: Op; error: string }[] = [];
    for (const b of bad) {
      try {
        await this.backend.commit(now, [b.o]);
        this.settle([b.o], now);
      } catch (e) {
        if (isRefusal(e)) refused.push({ o: b.o, error: (e as Error).message });
      }
    }
    this.backend.discard(refused.map((b) => b.o));
    for (const { o, error } of refused) {
      this.counts.quarantined++;
      const key = o.op === 'add' ? o.e.key : o.key;
      if (this.long.get(key)?.op === o) this.long.delete(key);
      this.report(o, 'quarantined', error);
      this.meta.delete(o);
    }
    return null;
  }

  /** Bookkeeping and results for ops now in the kernel. */
  private settle(ops: readonly Op[], now: number): void {
    const t = performance.now();
    for (const o of ops) {
      const m = this.meta.get(o);
      if (!m) continue;
      this.meta.delete(o);
      this.latency[this.latencyN++ % LATENCY_SAMPLES] = t - m.at;
      const key = o.op === 'add' ? o.e.key : o.key;
      const b = this.long.get(key);
      let kernelUntil: number | null = null;
      if (b && b.op === o) {
        b.op = null;
        kernelUntil = b.kernelUntil = now + Math.min(b.until - now, this.backend.maxTimeout);
        if (kernelUntil >= b.until) this.long.delete(key);
      }
      if (!m.refresh) this.report(o, 'applied');
      else if (kernelUntil !== null) {
        this.counts.refreshed++;
        this.opts.onRefresh?.(key, kernelUntil);
      }
    }
  }

  private report(o: Op, status: ChangeResult['status'], error?: string): void {
    const r: ChangeResult =
      o.op === 'add' ? { op: 'add', key: o.e.key, scope: o.e.scope, until: o.e.until, status } : { op: 'del', key: o.key, scope: o.scope, until: null, status };
    if (error !== undefined) r.error = error;
    this.opts.onResult?.(r);
  }

  /** Changes queued and not yet applied (to warn about at exit). */
  get pendingCount(): number {
    return this.backend.pending;
  }

  /** The keys of the changes queued and not yet applied, oldest first, each once. */
  pendingKeys(): string[] {
    return [...new Set(this.backend.queued().map((o) => (o.op === 'add' ? o.e.key : o.key)))];
  }

  private fail(e: unknown): void {
    const err = e instanceof PalisadeError ? e : new PalisadeError('PAL_ERR_FIREWALL', (e as Error).message ?? String(e), { cause: e });
    this.failures++;
    this.lastError = err.message;
    const wait = this.backoff;
    this.backoff = Math.min(this.opts.retryMax, this.backoff * 2);
    this.opts.onError?.(err, wait);
    if (this.stopped || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.ready || this.backend.pending > 0) void this.commit();
      else void this.start().then((p) => p !== null && this.opts.onRecovered?.(this.failures));
    }, wait * 1000);
    this.retryTimer.unref();
  }

  /** Waits for queued changes to be applied (or to fail once). */
  async flush(): Promise<void> {
    while (this.committing || this.scheduled) await (this.committing ?? new Promise((r) => setImmediate(r)));
    if (this.backend.pending > 0 && !this.retryTimer) await this.commit();
  }

  /** Stops retrying; applies what it can, and with `flushBans` removes every ban. */
  async shutdown(flushBans: boolean): Promise<void> {
    await this.flush();
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    this.retryTimer = null;
    this.refreshTimer = null;
    await this.backend.shutdown(flushBans);
  }

  get healthy(): boolean {
    return this.ready && this.failures === 0;
  }

  /** Reaction-time percentiles (ms) over the recent commits: queued to applied. */
  latencyPercentiles(): { p50: number; p99: number; max: number; samples: number } {
    const n = Math.min(this.latencyN, LATENCY_SAMPLES);
    if (n === 0) return { p50: 0, p99: 0, max: 0, samples: 0 };
    const a = Float64Array.from(this.latency.subarray(0, n)).sort();
    const pick = (q: number): number => Math.round(a[Math.min(n - 1, Math.floor(q * n))]! * 1000) / 1000;
    return { p50: pick(0.5), p99: pick(0.99), max: pick(1), samples: this.latencyN };
  }

  metrics(): Record<string, unknown> {
    return {
      backend: this.backend.name,
      healthy: this.healthy,
      failures: this.failures,
      last_error: this.lastError,
      ...this.backend.metrics(),
      quarantined: this.counts.quarantined,
      refreshed: this.counts.refreshed,
      refreshing: this.long.size,
      latency_ms: this.latencyPercentiles(),
    };
  }
}
