// The protecting daemon behind `palisade run`: the engine on a live interface, with its decisions
// enforced in the firewall, stored in the state database and open to the operator through the
// control socket. On start it restores the bans in force (with their remaining time, never twice)
// and offence counts, and reconciles them with what the firewall holds.

import { readFileSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import { Cidr } from '../core/addr.js';
import type { PalisadeError } from '../core/errors.js';
import type { Ban, Decision, Lift } from '../core/notice.js';
import { ControlServer } from '../control/server.js';
import type { Request } from '../control/protocol.js';
import type { KernelEntry } from '../enforce/backend.js';
import { createBackend } from '../enforce/create.js';
import { Enforcer } from '../enforce/enforcer.js';
import { Honeypot, listeningPorts } from '../enforce/honeypot.js';
import type { Outputs } from '../output/outputs.js';
import { StateStore } from '../state/store.js';
import { Engine } from './engine.js';
import { hostFacts } from './host.js';
import { Operator } from './operator.js';
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
const PRUNE_MS = 3600_000;

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
  private source: LiveSource | null = null;
  private timers: NodeJS.Timeout[] = [];
  private readonly log: Log;

  constructor(
    readonly cfg: Config,
    private readonly opts: DaemonOptions,
  ) {
    const log = (this.log = opts.log);
    this.honeypot = cfg.honeypot.enabled ? new Honeypot({ ports: cfg.honeypot.ports, rate: cfg.honeypot.rate, memory: cfg.block.duration }) : null;
    this.engine = new Engine(cfg, {
      responder: this.honeypot,
      outputs: opts.outputs,
      onDecision: (d) => this.onDecision(d),
      onLift: (l) => this.onLift(l),
      extraStats: () => ({
        enforce: this.enforcer.metrics(),
        ...(this.store ? { state: this.store.counts() } : {}),
        ...(this.honeypot ? { honeypot: { ...this.honeypot.stats } } : {}),
      }),
    });
    this.engine.policy.setHost(hostFacts(opts.env));
    const backend = createBackend(opts.dryRun ? { backend: 'dry-run', name: cfg.enforce.name } : cfg.enforce, cfg.block.max_active, (msg, f) => log.info(f, msg));
    this.enforcer = new Enforcer(backend, {
      retryInitial: cfg.enforce.retry_initial,
      retryMax: cfg.enforce.retry_max,
      onError: (e: PalisadeError, retryIn) => log.error({ code: e.code, backend: backend.name, retry_in_s: retryIn }, `firewall change failed: ${e.message}`),
      onRecovered: (n) => log.info({ backend: backend.name, failures: n }, 'firewall working again: queued bans applied'),
    });
  }

  private onDecision(d: Decision): void {
    // Reported decisions, and trusted sources' notices (kept in history, never alerted).
    if (d.action === 'ignore' && d.protectedBy === null) return;
    this.honeypot?.onDecision(d, this.engine.clock.now);
    try {
      this.store?.recordDecision(d);
    } catch (e) {
      this.log.error({ code: 'PAL_ERR_STATE' }, `cannot store a decision: ${(e as Error).message}`);
    }
    const n = d.notice;
    if (d.ban) {
      this.enforcer.ban(d.ban);
      this.log.info({ scope: d.ban.key, seconds: Math.round(d.ban.until - d.ban.since), offence: d.ban.offence, kind: n.kind, notice_id: n.id }, 'ban');
    } else if (d.action === 'alert' && d.reason.startsWith('not banned')) {
      this.log.warn({ src: n.src.toString(), kind: n.kind, reason: d.reason }, d.protectedBy !== null ? 'ban refused: protected address' : 'ban refused: cap reached');
    } else if (d.protectedBy !== null && d.action === 'ignore') {
      this.log.info({ src: n.src.toString(), kind: n.kind, reason: d.reason }, 'notice from a trusted source: not banned');
    }
  }

  private onLift(l: Lift): void {
    try {
      this.store?.recordLift(l);
    } catch (e) {
      this.log.error({ code: 'PAL_ERR_STATE' }, `cannot store a lift: ${(e as Error).message}`);
    }
    this.enforcer.lift(l);
    this.honeypot?.onLift(l);
    this.log.info({ scope: l.ban.key, reason: l.reason }, 'ban lifted');
  }

  /**
   * Opens the state and the control socket, restores bans, prepares the firewall. Call after
   * `openCapture()` (so a bad interface fails before anything is touched), then `capture()`.
   */
  async start(): Promise<void> {
    this.store = openStore(this.cfg, this.log);
    this.operator = new Operator(this.engine.policy, this.store, this.enforcer);
    if (this.cfg.control.socket) {
      // Another daemon on the same socket is refused (exit 8): two would fight over the state
      // and the firewall table.
      const control = new ControlServer(this.cfg.control.socket, (r) => this.handle(r));
      await control.listen();
      this.control = control;
    }
    const now = Date.now() / 1000;
    const policy = this.engine.policy;
    const stored = this.store ? this.store.bansInForce(now) : [];
    const offences = this.store ? this.store.offences(now - this.cfg.block.forget_after) : [];
    this.dropRestored(policy.restore(stored, offences, now), now);
    const present = await this.enforcer.start();
    this.reconcile(present, now);
    await this.enforcer.flush();
    this.log.info({ restored: policy.activeCount, firewall: present === null ? 'unavailable' : present.length, backend: this.enforcer.backend.name }, 'bans restored');
    this.timers.push(setInterval(() => this.engine.policy.setHost(hostFacts(this.opts.env)), HOST_REFRESH_MS));
    if (this.store) {
      const prune = (): void => {
        try {
          const n = this.store!.prune(Date.now() / 1000 - this.cfg.state.retention);
          if (n > 0) this.log.info({ rows: n }, 'state pruned');
        } catch (e) {
          this.log.error({ code: 'PAL_ERR_STATE' }, `cannot prune: ${(e as Error).message}`);
        }
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

  private dropRestored(dropped: readonly Ban[], now: number): void {
    for (const b of dropped) {
      const l: Lift = { ban: b, reason: 'protected', at: now };
      this.store?.recordLift(l);
      this.enforcer.lift(l);
      this.log.warn({ scope: b.key }, 'stored ban not restored: it covers a protected address or overlaps another ban');
    }
  }

  /**
   * Puts the policy's bans and the firewall in agreement: bans missing from the firewall are
   * added (with their remaining time); timed entries the policy does not know (a lost database)
   * are adopted; entries without a timeout that nothing restores are deleted.
   */
  private reconcile(present: KernelEntry[] | null, now: number): void {
    const policy = this.engine.policy;
    const have = new Set((present ?? []).map((e) => e.key));
    for (const b of policy.active()) if (!have.has(b.key)) this.enforcer.ban(b);
    if (!present) return;
    const known = new Set(policy.active().map((b) => b.key));
    const adopt: Ban[] = [];
    for (const e of present) {
      if (known.has(e.key)) continue;
      const scope = Cidr.parse(e.key)!;
      if (e.until === null || e.until <= now) {
        this.enforcer.lift({ ban: orphan(scope, e.key, now, now), reason: 'superseded', at: now });
        continue;
      }
      adopt.push(orphan(scope, e.key, now, e.until));
    }
    if (adopt.length) {
      const dropped = policy.restore(adopt, [], now);
      for (const b of dropped) this.enforcer.lift({ ban: b, reason: 'protected', at: now });
      for (const b of adopt) if (!dropped.includes(b)) this.store?.recordBan(b);
      this.log.info({ adopted: adopt.length - dropped.length }, 'firewall entries without a stored ban adopted');
    }
  }

  private async handle(r: Request): Promise<unknown> {
    const op = this.operator!; // the socket listens only once start() has made it
    switch (r.cmd) {
      case 'status':
        return this.status();
      case 'list':
        return op.list();
      case 'ban':
        return op.ban(r.target, r.seconds, r.reason);
      case 'unban':
        return op.unban(r.target);
      case 'history':
        return op.history(r.target);
    }
  }

  status(): Record<string, unknown> {
    const e = this.engine;
    return {
      daemon: true,
      pid: process.pid,
      interface: this.live?.source.name ?? null,
      uptime: Math.round(e.clock.elapsed),
      packets: e.captureStats().packets,
      notices: e.noticeCount,
      decide: e.policy.stats(),
      enforce: this.enforcer.metrics(),
      state: this.store ? { path: this.store.path, ...this.store.counts() } : null,
      protected: e.policy.protect.list(),
    };
  }

  /** Opens the interface (throws PAL_ERR_LIVE_* when it cannot); packets flow from `capture()`. */
  openCapture(onWarning: (msg: string) => void): LiveSource {
    const c = this.cfg.capture;
    this.source = openLive(
      { iface: c.interface, filter: c.filter, snaplen: c.snaplen, bufferSize: c.buffer_size, promiscuous: c.promiscuous, timeoutMs: c.timeout_ms },
      onWarning,
    );
    return this.source;
  }

  /** Runs the pipeline on the opened interface until stopped. */
  capture(): LiveRun {
    const source = this.source!;
    this.live = startLive(this.engine, source);
    if (this.honeypot) this.honeypot.inject = (frame) => source.inject(frame);
    return this.live;
  }

  /** Stops timers and the control socket, applies what is queued, keeps or flushes bans, closes state. */
  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.control?.close();
    await this.enforcer.shutdown(this.opts.flushOnExit);
    if (this.opts.flushOnExit) {
      // ::/0 holds every address, IPv4 (mapped) included.
      for (const l of this.engine.policy.unban(Cidr.parse('::/0')!, Date.now() / 1000, 'operator')) this.store?.recordLift(l);
    }
    this.store?.close();
  }
}

function orphan(scope: Cidr, key: string, since: number, until: number): Ban {
  return { scope, key, since, until, reason: 'restored from the firewall', kind: 'restored', noticeIds: [], offence: 1, origin: 'detector' };
}

function openStore(cfg: Config, log: Log): StateStore | null {
  if (!cfg.state.path) return null;
  try {
    return new StateStore(cfg.state.path);
  } catch (e) {
    // Blocking matters more than history: run without persistence, loudly.
    log.error({ code: 'PAL_ERR_STATE' }, `${(e as Error).message}; running without persistence`);
    return null;
  }
}
