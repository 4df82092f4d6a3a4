// The decide stage: turns notices into decisions. Trusted sources are never acted on; a source
// already reported for a kind is not reported again while the first verdict stands (suppression).
// Enforcement (bans, escalation, caps) builds on these decisions.

import type { CidrSet } from '../core/addr.js';
import type { Decision, Notice } from '../core/notice.js';

export interface PolicyConfig {
  trusted: CidrSet;
  /** Seconds a verdict stands (the block duration); repeats within it are suppressed. */
  duration: number;
}

export class Policy {
  private readonly active = new Map<string, number>();
  alerts = 0;
  suppressed = 0;
  trusted = 0;

  constructor(private readonly cfg: PolicyConfig) {}

  decide(n: Notice, now: number): Decision {
    const s = n.src;
    const t = this.cfg.trusted.match(s.w0, s.w1, s.w2, s.w3);
    if (t) {
      this.trusted++;
      return { action: 'ignore', notice: n, reason: `trusted ${t.toString()}`, duration: 0 };
    }
    const key = `${n.kind}|${s.w0}:${s.w1}:${s.w2}:${s.w3}`;
    const until = this.active.get(key);
    if (until !== undefined && until > now) {
      this.suppressed++;
      return { action: 'ignore', notice: n, reason: 'suppressed: already reported', duration: 0 };
    }
    this.active.delete(key);
    this.active.set(key, now + this.cfg.duration);
    this.alerts++;
    return { action: 'alert', notice: n, reason: 'policy', duration: this.cfg.duration };
  }

  /** Forgets verdicts that have run out (the map is in expiry order). */
  expire(now: number): void {
    for (const [k, until] of this.active) {
      if (until > now) break;
      this.active.delete(k);
    }
  }

  stats(): Record<string, number> {
    return { alerts: this.alerts, suppressed: this.suppressed, trusted: this.trusted, active: this.active.size };
  }

  clear(): void {
    this.active.clear();
  }
}
