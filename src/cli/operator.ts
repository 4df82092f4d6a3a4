// The operator commands: status, bans list, ban, unban, history. Each asks the running daemon over
// the control socket; when no daemon runs, it works on the state database directly (and, for ban
// and unban, on the firewall), through the same Operator code the daemon uses.

import type { Config } from '../config/schema.js';
import { PalisadeError } from '../core/errors.js';
import { request } from '../control/client.js';
import type { Request } from '../control/protocol.js';
import { Policy, policyConfig } from '../decide/policy.js';
import { createBackend } from '../enforce/create.js';
import { Enforcer } from '../enforce/enforcer.js';
import { hostFacts } from '../pipeline/host.js';
import { Operator, type BanView } from '../pipeline/operator.js';
import { StateStore } from '../state/store.js';

export interface OperatorResult {
  result: unknown;
  /** True when a daemon answered; false when the database was used. */
  daemon: boolean;
  warnings: string[];
}

/** Runs `req` against the daemon, or offline against the database. */
export async function operate(cfg: Config, req: Request): Promise<OperatorResult> {
  if (cfg.control.socket) {
    const r = await request(cfg.control.socket, req);
    if (r !== null) return { result: r, daemon: true, warnings: [] };
  }
  return offline(cfg, req);
}

async function offline(cfg: Config, req: Request): Promise<OperatorResult> {
  if (!cfg.state.path) throw new PalisadeError('PAL_ERR_CONTROL', 'no daemon is running and state.path is empty: there is nothing to read or change');
  const store = new StateStore(cfg.state.path);
  const warnings: string[] = [];
  try {
    const now = Date.now() / 1000;
    const policy = new Policy(policyConfig(cfg));
    policy.setHost(hostFacts());
    policy.restore(store.bansInForce(now), store.offences(now - cfg.block.forget_after), now);
    let enforcer: Enforcer | null = null;
    if (req.cmd === 'ban' || req.cmd === 'unban') {
      const backend = createBackend(cfg.enforce, cfg.block.max_active, () => {});
      enforcer = new Enforcer(backend, {
        retryInitial: cfg.enforce.retry_initial,
        retryMax: cfg.enforce.retry_max,
        onError: (e) => warnings.push(`firewall not changed (${e.message}); the daemon applies it when it starts`),
      });
      await enforcer.start();
    }
    const op = new Operator(policy, store, enforcer);
    let result: unknown;
    switch (req.cmd) {
      case 'status':
        result = { daemon: false, state: { path: store.path, ...store.counts() }, decide: { active: policy.activeCount }, protected: policy.protect.list() };
        break;
      case 'list':
        result = op.list();
        break;
      case 'ban':
        result = await op.ban(req.target, req.seconds, req.reason);
        break;
      case 'unban':
        result = await op.unban(req.target);
        break;
      case 'history':
        result = op.history(req.target);
        break;
    }
    await enforcer?.shutdown(false);
    return { result, daemon: false, warnings };
  } finally {
    store.close();
  }
}

function formatSeconds(s: number): string {
  if (s >= 86400) return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
  if (s >= 3600) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${s % 60}s`;
  return `${s}s`;
}

/** The `bans list` table. */
export function formatBanTable(bans: readonly BanView[]): string {
  if (bans.length === 0) return 'no bans in force\n';
  const rows = bans.map((b) => [b.scope, formatSeconds(b.remaining), String(b.offence), b.origin, b.kind, b.reason]);
  const head = ['SCOPE', 'REMAINING', 'OFFENCE', 'ORIGIN', 'KIND', 'REASON'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join('  ');
  return `${[line(head), ...rows.map(line)].join('\n')}\n`;
}

export function formatBanLine(b: BanView): string {
  return `${b.scope} banned for ${formatSeconds(b.remaining)} (offence ${b.offence}, until ${b.until}): ${b.reason}\n`;
}
