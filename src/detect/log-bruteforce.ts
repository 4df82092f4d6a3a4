// Brute force from the services' own logs: the same verdict as the packet view (bruteforce.ts),
// per (address, service), from parsed log lines (core/log-event.ts) and their times. Pure: events
// and time in, notices out. The alert names its view (`log:sshd`) and the log lines it rests on.

import type { IpAddr } from '../core/addr.js';
import type { Clock } from '../core/clock.js';
import { KeyTable } from '../core/key-table.js';
import { SERVICE_PORTS, SERVICES, type Service } from '../core/kinds.js';
import { OUTCOME, type LogEvent } from '../core/log-event.js';
import type { NoticeQueue } from '../core/notice.js';
import type { BruteforceConfig } from './bruteforce.js';
import { SIG_BRUTEFORCE_BASE } from './bruteforce.js';
import { TABLE_SLACK } from './distinct.js';

const R_START = 0;
const R_FAILS = 1;
const R_SUCC = 2;
const R_FIRED = 3;
const R_LAST = 4;
const R_FIRST_LINE = 5;
const R_LAST_LINE = 6;
const R_COUNT = 7;
const USERS = 5;
const USER_MAX = 64;

export class LogBruteforce {
  private readonly t: KeyTable;
  /** Up to five distinct usernames per record, by slot (cleared with the record). */
  private readonly users = new Map<number, string[]>();
  /** The file of each record's first counted line, by slot. */
  private readonly files = new Map<number, string>();
  fired = 0;
  events = 0;

  constructor(
    private readonly cfg: Pick<BruteforceConfig, 'failures' | 'window' | 'max_sources'>,
    private readonly clock: Clock,
  ) {
    this.t = new KeyTable(5, cfg.max_sources, clock, R_COUNT, TABLE_SLACK);
    this.t.onRemove = (slot) => {
      this.users.delete(slot);
      this.files.delete(slot);
    };
  }

  onLogEvent(ev: LogEvent, out: NoticeQueue): void {
    this.events++;
    const svc = SERVICES.indexOf(ev.service as Service) + 1;
    if (svc === 0) return;
    const t = this.t;
    const k = t.key;
    const a = ev.addr;
    k[0] = a.w0;
    k[1] = a.w1;
    k[2] = a.w2;
    k[3] = a.w3;
    k[4] = svc;
    const s = t.get();
    const v = t.vals;
    const b = t.valBase(s);
    if (t.restartWindow(s, this.cfg.window)) {
      this.users.delete(s);
      this.files.set(s, ev.file);
      v[b + R_FIRST_LINE] = ev.line;
    }
    v[b + R_LAST] = this.clock.now;
    v[b + R_LAST_LINE] = ev.line;
    if (ev.outcome === OUTCOME.SUCCESS) {
      v[b + R_SUCC]++;
      return;
    }
    v[b + R_FAILS]++;
    if (ev.user !== null) {
      const list = this.users.get(s) ?? [];
      const u = ev.user.slice(0, USER_MAX);
      if (list.length < USERS && !list.includes(u)) list.push(u);
      this.users.set(s, list);
    }
    if (v[b + R_FIRED] === 0 && v[b + R_FAILS]! >= this.cfg.failures) {
      v[b + R_FIRED] = 1;
      this.fired++;
      this.report(s, ev, a, svc, out);
    }
  }

  private report(s: number, ev: LogEvent, addr: IpAddr, svc: number, out: NoticeQueue): void {
    const v = this.t.vals;
    const b = this.t.valBase(s);
    const service = SERVICES[svc - 1]!;
    const fails = v[b + R_FAILS]!;
    out.push({
      kind: 'bruteforce',
      detector: 'bruteforce',
      tsSec: ev.sec,
      tsNsec: ev.nsec,
      src: addr,
      dst: null,
      srcPort: 0,
      dstPort: SERVICE_PORTS[service][0]!,
      proto: service === 'sip' ? 17 : 6,
      severity: 2,
      signatureId: SIG_BRUTEFORCE_BASE + svc,
      signature: `PALISADE brute force: ${fails} failed ${service} logins from one source (${ev.filter} log)`,
      category: 'Attempted User Privilege Gain',
      evidence: {
        view: `log:${ev.filter}`,
        service,
        method: 'log_lines',
        attempts: fails + v[b + R_SUCC]!,
        failures: fails,
        successes: v[b + R_SUCC],
        usernames: [...(this.users.get(s) ?? [])],
        threshold: this.cfg.failures,
        window: this.cfg.window,
        first_seen: v[b + R_START],
        last_seen: v[b + R_LAST],
        log: { file: this.files.get(s) ?? ev.file, first_line: v[b + R_FIRST_LINE], last_line: v[b + R_LAST_LINE] },
      },
    });
  }

  onTick(now: number): void {
    this.t.expire(now - this.cfg.window);
  }

  get size(): number {
    return this.t.size;
  }
}
