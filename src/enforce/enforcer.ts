// The enforce stage: applies the policy's bans and lifts through one firewall backend. Changes
// are batched: everything that arrives while a commit runs goes in the next one. A failed commit
// (tool missing, kernel refusing) never stops detection: it is reported, and retried with
// exponential backoff after re-creating the backend's tables, until the firewall is back.

import { PalisadeError } from '../core/errors.js';
import type { Ban, Lift } from '../core/notice.js';
import type { FirewallBackend, KernelEntry } from './backend.js';

export interface EnforcerOptions {
  retryInitial: number;
  retryMax: number;
  /** Wall time in seconds (tests may move it). */
  now?: () => number;
  onError?: (e: PalisadeError, retryIn: number) => void;
  onRecovered?: (afterFailures: number) => void;
}

/** The latency window kept for p50/p99: the most recent samples. */
const LATENCY_SAMPLES = 4096;

export class Enforcer {
  private committing: Promise<void> | null = null;
  private scheduled = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private ready = false;
  private failures = 0;
  private backoff: number;
  private lastError: string | null = null;
  /** When each queued change arrived (performance.now()), for the reaction-time figures. */
  private queuedAt: number[] = [];
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

  ban(b: Ban): void {
    this.backend.add({ key: b.key, scope: b.scope, until: b.until });
    this.queued();
  }

  lift(l: Lift): void {
    // The kernel ends timed elements itself; deleting them is only for early lifts.
    if (l.reason === 'expired' && this.backend.kernelExpiry) return;
    this.backend.delete(l.ban.key, l.ban.scope);
    this.queued();
  }

  private queued(): void {
    this.queuedAt.push(performance.now());
    this.schedule();
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

  private async run(): Promise<void> {
    if (this.backend.pending === 0) return;
    const n = this.queuedAt.length;
    try {
      if (!this.ready) {
        await this.backend.init();
        this.ready = true;
      }
      await this.backend.commit(this.now());
    } catch (e) {
      this.ready = false; // re-create tables before the retry (someone may have removed them)
      this.fail(e);
      return;
    }
    const t = performance.now();
    for (const q of this.queuedAt.splice(0, n)) this.latency[this.latencyN++ % LATENCY_SAMPLES] = t - q;
    if (this.failures > 0) this.opts.onRecovered?.(this.failures);
    this.failures = 0;
    this.backoff = this.opts.retryInitial;
    this.lastError = null;
    this.onCommit?.();
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
    this.retryTimer = null;
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
      latency_ms: this.latencyPercentiles(),
    };
  }
}
