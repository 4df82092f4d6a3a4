// The operator's commands when no daemon runs: wires the policy, the state database and (for ban
// and unban only) the firewall around the same Operator the daemon uses. Input is validated
// first, and a ban the policy refuses (a protected address) is refused before anything exists.
// Read commands open the database read-only and never create it; ban and unban record their
// intent in the database first, and fail with PAL_ERR_FIREWALL when the firewall did not take it.

import { existsSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import { PalisadeError } from '../core/errors.js';
import type { z } from 'zod';
import { parseRequest, type Request, type requestSchema } from '../control/protocol.js';
import { Policy, policyConfig } from '../decide/policy.js';
import { createBackend } from '../enforce/create.js';
import { Enforcer } from '../enforce/enforcer.js';
import { StateStore } from '../state/store.js';
import { hostFacts } from './host.js';
import { Operator, parseTarget, type BanView } from './operator.js';

/** A request before validation (defaults may be left out, e.g. an alerts request without `limit`). */
export type RequestInput = z.input<typeof requestSchema>;

export interface OperatorResult {
  result: unknown;
  /** True when a daemon answered; false when the database was used. */
  daemon: boolean;
  warnings: string[];
}

function newPolicy(cfg: Config): Policy {
  const policy = new Policy(policyConfig(cfg));
  policy.setHost(hostFacts());
  return policy;
}

/**
 * PAL_ERR_FIREWALL when a ban or unban answer (`result` of `req`) says the firewall change did
 * not take, else null. `daemon`: the answer came from the daemon (which keeps retrying).
 */
export function firewallFailure(req: Request, result: unknown, daemon: boolean): PalisadeError | null {
  if (req.cmd !== 'ban' && req.cmd !== 'unban') return null;
  const views = (Array.isArray(result) ? result : [result]) as BanView[];
  const bad = views.find((v) => v?.enforcement && v.enforcement.status !== 'applied' && v.enforcement.status !== 'dry-run');
  if (!bad) return null;
  const what = req.cmd === 'ban' ? 'ban' : 'unban';
  const why = bad.enforcement!.error ?? bad.enforcement!.status;
  const then =
    bad.enforcement!.status === 'quarantined'
      ? 'the firewall refused this element, so it was set aside'
      : daemon
        ? 'the daemon keeps retrying it'
        : 'the daemon applies it when it starts';
  return new PalisadeError('PAL_ERR_FIREWALL', `${bad.scope}: ${what} recorded, but the firewall was not changed (${why}); ${then}`);
}

/** Runs `req` on the database (and for ban and unban, the firewall), validating it first. */
export async function offline(cfg: Config, input: Request | RequestInput): Promise<OperatorResult> {
  const req = parseRequest(input);
  const path = cfg.state.path;
  if (!path) throw new PalisadeError('PAL_ERR_CONTROL', 'no daemon is running and state.path is empty: there is nothing to read or change');
  const now = Date.now() / 1000;
  // The policy's verdict on a fresh book: a protected scope is refused before anything is built.
  if (req.cmd === 'ban') await new Operator(newPolicy(cfg), null, null, () => now).ban(req.target, req.seconds, req.reason);
  const warnings: string[] = [];
  // Only a ban creates the database; an unban changes one that exists; the rest only read.
  const writes = req.cmd === 'ban' || (req.cmd === 'unban' && existsSync(path));
  const store = writes ? new StateStore(path) : StateStore.openReadOnly(path);
  if (!store) warnings.push(`${path}: no database yet: nothing on record`);
  let enforcer: Enforcer | null = null;
  let result: unknown;
  try {
    const policy = newPolicy(cfg);
    if (store) policy.restore(store.bansInForce(now), store.offences(now - cfg.block.forget_after), now);
    const lifting = req.cmd === 'unban' && policy.active().some((b) => b.scope.overlaps(parseTarget(req.target)));
    if (req.cmd === 'ban' || lifting) {
      enforcer = new Enforcer(createBackend(cfg.enforce, cfg.block.max_active, () => {}), { retryInitial: cfg.enforce.retry_initial, retryMax: cfg.enforce.retry_max });
      await enforcer.start();
    }
    const op = new Operator(policy, store, enforcer, () => now);
    switch (req.cmd) {
      case 'status':
        result = {
          daemon: false,
          state: { path, exists: store !== null, ...(store ? store.counts() : { notices: 0, bans: 0, offenders: 0 }) },
          decide: { active: policy.activeCount },
          protected: policy.protect.list(),
        };
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
      case 'alerts':
        result = op.alerts(req);
        break;
      case 'top':
        result = op.top(req);
        break;
    }
  } finally {
    await enforcer?.shutdown(false);
    store?.close();
  }
  const failed = firewallFailure(req, result, false);
  if (failed) throw failed;
  return { result, daemon: false, warnings };
}
