// The protecting daemon behind `palisade run`: the engine on a live interface, with its decisions
// enforced in the firewall, stored in the state database and open to the operator through the
// control socket. The database is the truth: on start it restores the bans in force (with their
// remaining time, never twice) and offence counts, and makes the firewall agree with it (missing
// or drifted elements re-applied, elements of lifted bans deleted, unknown ones adopted). Every
// change in a ban's life is an audit event; every fault (firewall, state, output, socket) is
// logged, counted and shown in `status`, and protection goes on.

import { readFileSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import { Cidr } from '../core/addr.js';
import type { PalisadeError } from '../core/errors.js';
import type { Ban, BanEvent, Decision, Enforcement, Lift, Notice } from '../core/notice.js';
import { ControlServer } from '../control/server.js';
import type { Request } from '../control/protocol.js';
import type { KernelEntry } from '../enforce/backend.js';
import { createBackend } from '../enforce/create.js';
import { Enforcer, type ChangeResult } from '../enforce/enforcer.js';
import { Honeypot, listeningPorts } from '../enforce/honeypot.js';
import { lockTable, type TableLock } from '../enforce/lock.js';
import type { Outputs } from '../output/outputs.js';
import { lockState, type StateLock } from '../state/lock.js';
import { StateStore } from '../state/store.js';
import { Engine } from './engine.js';
import { hostFacts, sshPeersAsync } from './host.js';
import type { HostFacts } from '../decide/protect.js';
import { Operator } from './operator.js';
import { describeLoss, DropWatch } from '../capture/drops.js';
import { MitigationPlan, type PlannedMitigation } from '../decide/mitigation.js';
import { floodProto } from '../detect/flood.js';
import { Mitigator, type MitigationKind } from '../enforce/mitigation.js';
import { readSyncookies, type SyncookiesState } from '../enforce/syncookies.js';
import type { FloodEvent } from '../output/eve.js';
import type { LiveSource } from '../capture/live.js';
import { openLive, startLive, type LiveRun } from './run.js';

export interface Log {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
  error(o: object, msg: string): void;
}

export interface DaemonOptions {
  dryRun: boolean;
  flushOnExit: boolean;
  log: Log;
  outputs: Outputs | null;
  env?: NodeJS.ProcessEnv;
}

const HOST_REFRESH_MS = 60_000;
/** SSH sessions are looked for more often: a new operator session is protected within seconds. */
const SSH_REFRESH_MS = 5_000;
/** How long an operator's request waits for its firewall result. */
const APPLIED_WAIT_MS = 20_000;
const PRUNE_MS = 3600_000;
/** Capture drops are weighed over this interval; more than 0.1% is warned about and unhealthy. */
const DROP_WATCH_MS = 10_000;
/** A kernel timeout this far from the database's (seconds, or 1% of what is left) is re-applied. */
const DRIFT_S = 5;

/** Who an audit event names for a lift reason. */
const LIFTED_BY: Record<Lift['reason'], BanEvent['by']> = {
  expired: 'daemon',
  operator: 'operator',
  superseded: 'detector',
  protected: 'daemon',
  quarantined: 'firewall',
};

export class Daemon {
  readonly engine: Engine;
  readonly enforcer: Enforcer;
  /** Opened by start(). */
  store: StateStore | null = null;
  /** Created by start(), with the state it opens. */
  operator: Operator | null = null;
  readonly honeypot: Honeypot | null;
  private control: ControlServer | null = null;
  private live: LiveRun | null = null;
  private readonly drops = new DropWatch();
  private source: LiveSource | null = null;
  private timers: NodeJS.Timeout[] = [];
  private readonly log: Log;
  private tableLock: TableLock | null = null;
  private stateLock: StateLock | null = null;
  /** Ban alerts waiting for their firewall result, by scope. */
  private readonly awaiting = new Map<string, Decision>();
  /** Operator requests waiting for a change's result, by op and scope. */
  private readonly waiters = new Map<string, ((e: Enforcement) => void)[]>();
  /** Why the state is not persisted, when it is not (the database could not be opened). */
  private stateProblem: string | null = null;
  private quarantined = 0;
  /** Flood mitigation: the book (which floods, how long) and the firewall side. */
  readonly mitigations: MitigationPlan;
  readonly mitigator: Mitigator;
  /** Mitigations the firewall refused, by id, with the error (until one applies again). */
  private readonly mitigationFailing = new Map<string, string>();
  private syncookies: SyncookiesState = { value: null, warning: null };

  constructor(
    readonly cfg: Config,
    private readonly opts: DaemonOptions,
  ) {
    const log = (this.log = opts.log);
    this.honeypot = cfg.honeypot.enabled ? new Honeypot({ ports: cfg.honeypot.ports, rate: cfg.honeypot.rate, memory: cfg.block.duration }) : null;
    this.engine = new Engine(cfg, {
      responder: this.honeypot,
      outputs: opts.outputs,
      deferBanAlerts: true,
      onDecision: (d) => this.onDecision(d),
      onLift: (l) => this.onLift(l, 'daemon'),
      onFlood: (n) => this.onFlood(n),
      extraStats: () => ({
        mitigation: this.mitigator.metrics(),
        enforce: this.enforcer.metrics(),
        ...(this.store ? { state: { ...this.store.counts(), health: this.store.health() } } : {}),
        ...(opts.outputs ? { outputs: opts.outputs.health() } : {}),
        ...(this.honeypot ? { honeypot: { ...this.honeypot.stats } } : {}),
      }),
    });
    this.engine.policy.setHost(hostFacts(opts.env));
    const backend = createBackend(opts.dryRun ? { backend: 'dry-run', name: cfg.enforce.name } : cfg.enforce, cfg.block.max_active, (msg, f) => log.info(f, msg));
    const fd = cfg.detect.flood;
    this.mitigations = new MitigationPlan({
      enabled: cfg.mitigation.enabled,
      hold: cfg.mitigation.hold,
      synproxy: cfg.mitigation.synproxy,
      rates: cfg.mitigation.rates,
      baselineFactor: fd.baseline_factor,
      amplifierPorts: fd.amplifier_ports,
    });
    this.mitigator = new Mitigator({ backend: backend.name as 'nftables' | 'ipset' | 'iptables' | 'dry-run', name: cfg.enforce.name });
    this.enforcer = new Enforcer(backend, {
      retryInitial: cfg.enforce.retry_initial,
      retryMax: cfg.enforce.retry_max,
      onError: (e: PalisadeError, retryIn) => log.error({ code: e.code, backend: backend.name, retry_in_s: retryIn }, `firewall change failed: ${e.message}`),
      onRecovered: (n) => log.info({ backend: backend.name, failures: n }, 'firewall working again: queued bans applied'),
      onResult: (r) => this.onResult(r),
      onRefresh: (key, kernelUntil) => this.event({ action: 'refreshed', by: 'daemon', scope: key, until: kernelUntil, reason: `the kernel caps timeouts at ${backend.maxTimeout} s: re-applied`, at: this.wall() }),
    });
  }

  private wall(): number {
    return Date.now() / 1000;
  }

  /** Writes an audit event (EVE `ban`) and logs it. */
  private event(e: BanEvent): void {
    this.opts.outputs?.ban(e);
    const fields = { scope: e.scope, by: e.by, until: e.until === null ? null : Math.round(e.until), reason: e.reason, ...(e.kind ? { kind: e.kind } : {}), ...(e.error ? { error: e.error } : {}) };
    if (e.action === 'failed' || e.action === 'quarantined') this.log.error(fields, `ban ${e.action}`);
    else this.log.info(fields, `ban ${e.action}`);
  }

  private banEvent(action: BanEvent['action'], by: BanEvent['by'], b: Ban, reason = b.reason, at = this.wall()): void {
    this.event({ action, by, scope: b.key, until: b.until, reason, at, kind: b.kind, offence: b.offence, origin: b.origin });
  }

  private onDecision(d: Decision): void {
    // Reported decisions, and trusted sources' notices (kept in history, never alerted).
    if (d.action === 'ignore' && d.protectedBy === null) return;
    this.honeypot?.onDecision(d, this.engine.clock.now);
    this.store?.recordDecision(d);
    const n = d.notice;
    if (d.ban) {
      this.banEvent('banned', 'detector', d.ban);
      if (d.narrowedFrom) {
        const b = d.ban;
        this.event({ action: 'narrowed', by: 'detector', scope: b.key, until: b.until, reason: `scope narrowed from ${d.narrowedFrom.toString()} to ${b.key}: ${d.narrowedBecause}`, at: b.since, kind: b.kind, offence: b.offence, origin: b.origin });
      }
      if (this.opts.dryRun || this.enforcer.backend.name === 'dry-run') {
        d.enforcement = { status: 'dry-run' };
        this.opts.outputs?.alert(d);
      } else {
        // The alert waits for the kernel's answer: it says "blocked" only once the element is in.
        this.awaiting.set(d.ban.key, d);
      }
      this.enforcer.ban(d.ban);
    } else if (d.action === 'alert' && d.reason.startsWith('not banned')) {
      this.log.warn({ src: n.src.toString(), kind: n.kind, reason: d.reason }, d.protectedBy !== null ? 'ban refused: protected address' : 'ban refused: cap reached');
    } else if (d.protectedBy !== null && d.action === 'ignore') {
      this.log.info({ src: n.src.toString(), kind: n.kind, reason: d.reason }, 'notice from a trusted source: not banned');
    }
  }

  /**
   * A flood notice: logged, and its mitigation applied or scheduled for withdrawal (the book
   * decides). A mitigation the firewall refuses is reported (log, EVE, `status`) and asked for
   * again by the flood's next update; detection and bans go on either way.
   */
  private onFlood(n: Notice): void {
    const f = n.flood!;
    const where = `${f.victim.toString()}${f.port ? `:${f.port}` : ''}`;
    if (f.phase === 'start' || f.phase === 'end') {
      const fields = { kind: f.kind, victim: where, pps: f.pps, peak_pps: f.peakPps, mitigate: f.mitigate, flood_id: f.id };
      if (f.phase === 'start') this.log.warn(fields, 'flood started');
      else this.log.info(fields, 'flood ended');
    }
    const m = this.mitigations.onFlood(n, this.wall());
    if (m === null) return;
    const s = this.mitigator.supported(m.kind as MitigationKind, { synproxy: m.synproxy === true });
    if (!s.ok) {
      this.log.warn({ kind: m.kind, victim: where, backend: this.mitigator.backend }, `flood not mitigated: ${s.reason}`);
      this.mitigationEvent('mitigation_failed', m, `unsupported by ${this.mitigator.backend}: ${s.reason}`);
      return;
    }
    const t0 = Date.now();
    const spec = { id: m.id, kind: m.kind as MitigationKind, victim: m.victim, port: m.port, rate: m.rate, burst: m.burst, ...(m.synproxy ? { synproxy: true } : {}), ...(m.amplifierPorts ? { amplifierPorts: m.amplifierPorts } : {}) };
    this.mitigator.apply(spec).then(
      () => {
        this.mitigationFailing.delete(m.id);
        this.log.warn({ id: m.id, rate: m.rate, burst: m.burst, ms: Date.now() - t0 }, `flood mitigation applied: ${describeMitigation(m)}`);
        this.mitigationEvent('mitigation_applied', m);
      },
      (e: Error) => {
        this.mitigations.drop(m.id);
        this.mitigationFailing.set(m.id, e.message);
        this.log.error({ code: 'PAL_ERR_FIREWALL', id: m.id }, `flood mitigation failed: ${e.message}`);
        this.mitigationEvent('mitigation_failed', m, e.message);
      },
    );
  }

  /** Withdraws the mitigations whose hold is over. */
  private withdrawDue(): void {
    for (const m of this.mitigations.due(this.wall())) {
      this.mitigator.withdraw(m.id).then(
        () => {
          this.mitigationFailing.delete(m.id);
          this.log.info({ id: m.id }, `flood mitigation withdrawn: ${describeMitigation(m)}`);
          this.mitigationEvent('mitigation_withdrawn', m);
        },
        (e: Error) => {
          // Still in the firewall: reported, and retried at the next due check.
          this.mitigationFailing.set(m.id, e.message);
          this.log.error({ code: 'PAL_ERR_FIREWALL', id: m.id }, `flood mitigation not withdrawn: ${e.message}`);
          this.mitigationEvent('mitigation_failed', m, e.message);
          this.mitigations.restore(m);
        },
      );
    }
  }

  private mitigationEvent(phase: FloodEvent['phase'], m: PlannedMitigation, error?: string): void {
    const proto = floodProto(m.kind, m.victim.includes(':'));
    this.opts.outputs?.flood({
      at: this.wall(),
      phase,
      id: m.floodId,
      kind: m.kind,
      victim: m.victim,
      port: m.port ?? 0,
      proto,
      mitigate: true,
      pps: 0,
      bps: 0,
      peakPps: 0,
      peakBps: 0,
      mitigation: { backend: this.mitigator.backend, rules: describeMitigation(m), ...(error !== undefined ? { error } : {}) },
    });
    // Written from a firewall result, maybe while no packet flows: out now, not at the next batch.
    this.opts.outputs?.flush();
  }

  /** A change's firewall result: the waiting alert is written, the audit trail and the log told. */
  private onResult(r: ChangeResult): void {
    const enforcement: Enforcement = r.error === undefined ? { status: r.status } : { status: r.status, error: r.error };
    const k = `${r.op}|${r.key}`;
    const waiting = this.waiters.get(k);
    if (waiting) {
      this.waiters.delete(k);
      for (const w of waiting) w(enforcement);
    }
    if (r.op === 'add') {
      const d = this.awaiting.get(r.key);
      if (d) {
        this.awaiting.delete(r.key);
        d.enforcement = enforcement;
        this.opts.outputs?.alert(d);
      }
      this.event({ action: r.status, by: r.status === 'applied' ? 'daemon' : 'firewall', scope: r.key, until: r.until, reason: r.error ?? 'in the kernel', at: this.wall(), ...(r.error ? { error: r.error } : {}) });
      if (r.status === 'quarantined') {
        // The kernel will not hold it: the ban is lifted, so nothing claims it is in force.
        this.quarantined++;
        const l = this.engine.policy.liftExact(r.key, 'quarantined', this.wall());
        if (l) this.onLift(l, 'firewall', false);
      }
    } else if (r.status !== 'applied') {
      this.event({ action: r.status, by: 'firewall', scope: r.key, until: null, reason: `unban not applied: ${r.error ?? 'unknown'}`, at: this.wall(), ...(r.error ? { error: r.error } : {}) });
    }
  }

  private onLift(l: Lift, by: BanEvent['by'], enforce = true): void {
    this.store?.recordLift(l);
    if (enforce) this.enforcer.lift(l);
    this.honeypot?.onLift(l);
    this.awaiting.delete(l.ban.key);
    this.banEvent('lifted', by === 'daemon' ? LIFTED_BY[l.reason] : by, l.ban, l.reason, l.at);
  }

  /**
   * What became of the next change to `key`: resolved by its firewall result, or as failed when
   * none came within APPLIED_WAIT_MS (the change stays queued and is retried).
   */
  private applied(key: string, op: 'add' | 'del'): Promise<Enforcement> {
    if (this.opts.dryRun) return Promise.resolve({ status: 'dry-run' });
    return new Promise((resolve) => {
      const k = `${op}|${key}`;
      const list = this.waiters.get(k) ?? [];
      const timer = setTimeout(() => {
        const i = list.indexOf(done);
        if (i >= 0) list.splice(i, 1);
        resolve({ status: 'failed', error: `no answer from the firewall within ${APPLIED_WAIT_MS / 1000} s; still queued` });
      }, APPLIED_WAIT_MS);
      const done = (e: Enforcement): void => {
        clearTimeout(timer);
        resolve(e);
      };
      list.push(done);
      this.waiters.set(k, list);
    });
  }

  /**
   * Takes the locks, opens the state and the control socket, restores bans, prepares the
   * firewall. Call after `openCapture()` (so a bad interface fails before anything is touched),
   * then `capture()`.
   */
  async start(): Promise<void> {
    // One daemon per firewall table and per state database (exit 8 for the second).
    if (!this.opts.dryRun) this.tableLock = await lockTable(this.enforcer.backend.name, this.cfg.enforce.name);
    if (this.cfg.state.path) this.stateLock = lockState(this.cfg.state.path);
    this.store = this.openStore();
    const op = (this.operator = new Operator(this.engine.policy, this.store, this.enforcer, {
      applied: (key, o) => this.applied(key, o),
      onBan: (b) => this.banEvent('banned', 'operator', b),
      onLift: (l) => {
        this.honeypot?.onLift(l);
        this.banEvent('lifted', 'operator', l.ban, l.reason === 'operator' ? 'unbanned by the operator' : l.reason, l.at);
      },
    }));
    if (this.cfg.control.socket) {
      // Another daemon on the same socket is refused (exit 8).
      // Faults are logged at most once a second (accept errors can repeat); counted in stats.
      let lastFault = 0;
      const control = new ControlServer(this.cfg.control.socket, (r) => this.handle(op, r), {
        onError: (e, req) => {
          const t = Date.now();
          if (t - lastFault < 1000) return;
          lastFault = t;
          this.log.error({ code: (e as { code?: string }).code ?? 'PAL_ERR_INTERNAL', cmd: req?.cmd ?? null, err: (e as Error)?.stack ?? String(e) }, 'control socket fault');
        },
      });
      await control.listen();
      this.control = control;
    }
    const now = this.wall();
    const policy = this.engine.policy;
    const stored = this.store ? this.store.bansInForce(now) : [];
    const offences = this.store ? this.store.offences(now - this.cfg.block.forget_after) : [];
    this.dropRestored(policy.restore(stored, offences, now), now);
    const present = await this.enforcer.start();
    this.reconcile(present, now);
    if (this.cfg.mitigation.enabled) {
      try {
        // Starts clean: mitigations left by an earlier run end with it (floods are judged anew).
        await this.mitigator.init();
      } catch (e) {
        this.mitigationFailing.set('init', (e as Error).message);
        this.log.error({ code: 'PAL_ERR_FIREWALL' }, `flood mitigation unavailable: ${(e as Error).message}`);
      }
    }
    this.syncookies = readSyncookies();
    if (this.syncookies.warning) this.log.warn({ tcp_syncookies: this.syncookies.value }, this.syncookies.warning);
    const due = setInterval(() => this.withdrawDue(), 1000);
    this.timers.push(due);
    await this.enforcer.flush();
    this.log.info({ restored: policy.activeCount, firewall: present === null ? 'unavailable' : present.length, backend: this.enforcer.backend.name }, 'bans restored');
    let facts: HostFacts = hostFacts(this.opts.env);
    const refreshHost = (): void => {
      try {
        facts = hostFacts(this.opts.env);
        this.engine.policy.setHost(facts);
      } catch (e) {
        this.log.error({}, `cannot read the host's facts: ${(e as Error).message}`);
      }
    };
    const refreshSsh = (): void => {
      sshPeersAsync().then(
        (sshPeers) => {
          facts = { ...facts, sshPeers };
          this.engine.policy.setHost(facts);
        },
        (e: Error) => this.log.error({}, `cannot read the SSH sessions: ${e.message}`),
      );
    };
    this.engine.policy.setHost(facts);
    this.timers.push(setInterval(refreshHost, HOST_REFRESH_MS), setInterval(refreshSsh, SSH_REFRESH_MS));
    if (this.store) {
      const store = this.store;
      const prune = (): void => {
        const n = store.prune(this.wall() - this.cfg.state.retention);
        if (n > 0) this.log.info({ rows: n }, 'state pruned');
      };
      prune();
      this.timers.push(setInterval(prune, PRUNE_MS));
    }
    const hp = this.honeypot;
    if (hp) {
      const refresh = (): void => {
        const ports = new Uint8Array(65536);
        for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
          try {
            listeningPorts(readFileSync(f, 'utf8'), ports);
          } catch {
            /* no IPv6 */
          }
        }
        hp.listening = ports;
      };
      refresh();
      this.timers.push(setInterval(refresh, 1000));
    }
    for (const t of this.timers) t.unref();
  }

  /**
   * The daemon's database: a corrupt one is set aside and a fresh one started, a read-only one
   * is still read; either is unhealthy in `status`. Only when no database can be had at all does
   * it run without persistence, loudly.
   */
  private openStore(): StateStore | null {
    const path = this.cfg.state.path;
    if (!path) return null;
    try {
      const store = StateStore.open(path, { onError: (e) => this.log.error({ code: e.code }, e.message) });
      const h = store.health();
      if (h.setAside) this.log.error({ code: 'PAL_ERR_STATE', set_aside: h.setAside }, `${path}: the database was corrupt; it was set aside and a fresh one started`);
      for (const p of h.problems) this.log.error({ code: 'PAL_ERR_STATE' }, p);
      return store;
    } catch (e) {
      this.stateProblem = (e as Error).message;
      this.log.error({ code: 'PAL_ERR_STATE' }, `${this.stateProblem}; running without persistence`);
      return null;
    }
  }

  private dropRestored(dropped: readonly Ban[], now: number): void {
    for (const b of dropped) {
      this.onLift({ ban: b, reason: 'protected', at: now }, 'daemon');
      this.log.warn({ scope: b.key }, 'stored ban not restored: it covers a protected address or overlaps another ban');
    }
  }

  /**
   * Puts the firewall in agreement with the database: bans missing from it, or whose kernel
   * timeout drifted from the stored end, are (re)applied; elements whose stored ban ended
   * (unbanned, expired, superseded) are deleted; timed elements the database has no record of at
   * all (a lost database) are adopted, as origin `firewall`; untimed unknown ones are deleted.
   */
  private reconcile(present: KernelEntry[] | null, now: number): void {
    const policy = this.engine.policy;
    const cap = this.enforcer.backend.maxTimeout;
    const kernel = new Map((present ?? []).map((e) => [e.key, e]));
    let reapplied = 0;
    for (const b of policy.active()) {
      const e = kernel.get(b.key);
      if (!e) {
        this.enforcer.ban(b);
        if (present) reapplied++;
        continue;
      }
      if (e.until === null) continue; // no kernel timeout (iptables): the policy's expiry lifts it
      const want = Math.min(b.until, now + cap);
      if (Math.abs(e.until - want) > Math.max(DRIFT_S, 0.01 * (want - now))) {
        this.enforcer.ban(b);
        reapplied++;
        this.event({ action: 'refreshed', by: 'daemon', scope: b.key, until: b.until, reason: `the kernel's timeout (${Math.round(e.until - now)} s left) drifted from the stored ban's (${Math.round(b.until - now)} s)`, at: now });
      } else {
        this.enforcer.watch(b, e.until);
      }
    }
    if (!present) return;
    const adopt: Ban[] = [];
    for (const e of present) {
      if (policy.isActive(e.key)) continue;
      const scope = Cidr.parse(e.key)!;
      const row = this.store?.lastBan(e.key) ?? null;
      if (row !== null || e.until === null || e.until <= now) {
        // The database says this ban ended (or nothing explains an untimed element): delete it.
        const ban = orphan(scope, e.key, now, e.until ?? now);
        this.enforcer.lift({ ban, reason: 'superseded', at: now });
        if (row !== null) this.event({ action: 'lifted', by: 'daemon', scope: e.key, until: null, reason: `ended before the restart (${row.lift_reason ?? 'expired'}): removed from the firewall`, at: now });
        continue;
      }
      adopt.push(orphan(scope, e.key, now, e.until));
    }
    if (adopt.length) {
      const dropped = policy.restore(adopt, [], now);
      for (const b of dropped) this.enforcer.lift({ ban: b, reason: 'protected', at: now });
      for (const b of adopt) {
        if (dropped.includes(b)) continue;
        this.store?.recordBan(b);
        this.banEvent('adopted', 'firewall', b, 'in the firewall with no stored ban: kept until its kernel timeout');
      }
      this.log.info({ adopted: adopt.length - dropped.length }, 'firewall entries without a stored ban adopted');
    }
    if (reapplied) this.log.info({ reapplied }, 'bans missing from the firewall or drifted re-applied');
  }

  private async handle(op: Operator, r: Request): Promise<unknown> {
    switch (r.cmd) {
      case 'status':
        return this.status();
      case 'list':
        return op.list();
      case 'ban': {
        const v = await op.ban(r.target, r.seconds, r.reason);
        return v;
      }
      case 'unban':
        return op.unban(r.target);
      case 'history':
        return op.history(r.target);
      case 'alerts':
        return op.alerts(r);
      case 'top':
        return op.top(r);
    }
  }

  /** Every fault in force, in words: empty when all is well. */
  problems(): string[] {
    const out: string[] = [];
    const m = this.enforcer.metrics() as { healthy: boolean; last_error: string | null };
    if (!m.healthy) out.push(`firewall: ${m.last_error ?? 'not ready'}`);
    if (this.quarantined > 0) out.push(`firewall: ${this.quarantined} change(s) refused by the kernel and quarantined`);
    for (const [id, err] of this.mitigationFailing) out.push(`mitigation ${id}: ${err}`);
    if (this.stateProblem) out.push(`state: ${this.stateProblem}; running without persistence`);
    if (this.store) {
      const h = this.store.health();
      if (!h.ok) out.push(...(h.problems.length ? h.problems.map((p) => `state: ${p}`) : [`state: ${h.lastError ?? 'unhealthy'}`]));
    }
    for (const o of this.opts.outputs?.health() ?? []) if (!o.ok) out.push(`output ${o.path}: ${o.last_error ?? 'failing'}`);
    const d = this.drops.last;
    if (d && this.drops.lossy()) out.push(`capture: ${describeLoss(d, DROP_WATCH_MS / 1000)}`);
    return out;
  }

  status(): Record<string, unknown> {
    const e = this.engine;
    const problems = this.problems();
    const capture = e.captureSection();
    return {
      daemon: true,
      pid: process.pid,
      healthy: problems.length === 0,
      problems,
      interface: this.live?.source.name ?? null,
      uptime: Math.round(process.uptime()),
      packets: capture.packets,
      capture,
      notices: e.noticeCount,
      decide: e.policy.stats(),
      enforce: { ...this.enforcer.metrics(), quarantined: this.quarantined, awaiting: this.awaiting.size },
      state: this.store ? { path: this.store.path, ...this.store.counts(), health: this.store.health() } : { path: this.cfg.state.path || null, health: null },
      outputs: this.opts.outputs?.health() ?? [],
      control: this.control?.stats() ?? null,
      protected: e.policy.protect.list(),
      mitigation: {
        enabled: this.cfg.mitigation.enabled,
        backend: this.mitigator.backend,
        ...this.mitigator.metrics(),
        in_force: this.mitigations.active().map((m) => ({ id: m.id, kind: m.kind, victim: m.victim, port: m.port, rate: m.rate, burst: m.burst, since: m.since, withdraw_at: m.withdrawAt, rules: describeMitigation(m) })),
      },
      host: { tcp_syncookies: this.syncookies.value },
      warnings: this.syncookies.warning ? [this.syncookies.warning] : [],
    };
  }

  /** Opens the interface (throws PAL_ERR_LIVE_* when it cannot); packets flow from `capture()`. */
  openCapture(onWarning: (msg: string) => void): LiveSource {
    const c = this.cfg.capture;
    this.source = openLive(
      { iface: c.interface, filter: c.filter, snaplen: c.snaplen, bufferSize: c.buffer_size, promiscuous: c.promiscuous, timeoutMs: c.timeout_ms, ringSize: c.ring_size },
      onWarning,
    );
    return this.source;
  }

  /** Runs the pipeline on the opened interface until stopped. */
  capture(): LiveRun {
    const source = this.source!;
    this.live = startLive(this.engine, source);
    this.drops.observe(source.stats());
    const watch = setInterval(() => {
      const w = this.drops.observe(source.stats());
      if (w && this.drops.lossy()) {
        this.log.warn({ seen: w.seen, kernel_drops: w.kernelDrops, ring_drops: w.ringDrops }, `capture on ${source.name}: ${describeLoss(w, DROP_WATCH_MS / 1000)}`);
      }
    }, DROP_WATCH_MS);
    watch.unref();
    this.timers.push(watch);
    if (this.honeypot) this.honeypot.inject = (frame) => source.inject(frame);
    return this.live;
  }

  /**
   * Stops timers and the control socket, applies what is queued, keeps or flushes bans, closes
   * state and releases the locks. Changes still pending are said aloud: the database holds them,
   * and the next start applies them.
   */
  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.control?.close();
    if (this.cfg.mitigation.enabled) {
      // Mitigations live as long as their floods are watched: they end with the daemon.
      this.mitigations.takeAll();
      await this.mitigator.shutdown().catch((e: Error) => this.log.error({ code: 'PAL_ERR_FIREWALL' }, `flood mitigations not removed at exit: ${e.message}`));
    }
    await this.enforcer.shutdown(this.opts.flushOnExit);
    const pending = this.enforcer.pendingKeys();
    if (pending.length > 0) {
      this.log.warn({ pending: pending.length, scopes: pending.slice(0, 20) }, `${pending.length} firewall change(s) still pending at exit: the database keeps them, and the next start applies them`);
    }
    if (this.opts.flushOnExit) {
      // ::/0 holds every address, IPv4 (mapped) included.
      for (const l of this.engine.policy.unban(Cidr.parse('::/0')!, this.wall(), 'operator')) this.store?.recordLift(l);
    }
    this.store?.close();
    this.stateLock?.release();
    await this.tableLock?.release();
  }
}

/** A mitigation in words, for logs, EVE and `status`. */
export function describeMitigation(m: PlannedMitigation): string {
  const at = `${m.victim}${m.port !== null ? `:${m.port}` : ''}`;
  if (m.kind === 'udp_amplification') return `unsolicited UDP from amplifier ports to ${at} dropped`;
  if (m.synproxy) return `SYN proxy for new connections to ${at}`;
  const what: Record<string, string> = {
    syn_flood: 'new TCP connections',
    ack_flood: 'ACKs of no connection',
    rst_flood: 'RSTs of no connection',
    udp_flood: 'new UDP packets',
    icmp_flood: 'ICMP echo requests',
    frag_flood: 'IP fragments',
    synack_reflection: 'unsolicited SYN-ACKs',
  };
  const known = m.kind === 'syn_flood' || m.kind === 'ack_flood' || m.kind === 'udp_flood' ? ', clients that completed a handshake before pass' : '';
  return `${what[m.kind] ?? m.kind} to ${at} over ${m.rate}/s (burst ${m.burst}) dropped; established traffic always passes${known}`;
}

function orphan(scope: Cidr, key: string, since: number, until: number): Ban {
  return { scope, key, since, until, reason: 'restored from the firewall', kind: 'adopted', noticeIds: [], offence: 1, origin: 'firewall' };
}
