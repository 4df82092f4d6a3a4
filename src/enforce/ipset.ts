// The ipset backend: two hash:net sets (<name>4, <name>6) with per-element timeouts, each matched
// by one DROP rule at the top of INPUT and FORWARD (iptables, ip6tables). Every commit is one
// `ipset restore -exist` batch: adds update an element's timeout, deletes of absent ones are no-ops.

import { Cidr } from '../core/addr.js';
import { QueuedBackend, applyBatch, mustRun, runTool, timeoutSeconds, type KernelEntry, type Op } from './backend.js';

/** ipset's largest timeout (seconds, about 24.8 days): longer bans are refreshed by the Enforcer. */
export const IPSET_MAX_TIMEOUT = 2147483;

export class IpsetBackend extends QueuedBackend {
  readonly name = 'ipset';
  readonly kernelExpiry = true;
  readonly maxTimeout = IPSET_MAX_TIMEOUT;

  constructor(
    private readonly prefix = 'palisade',
    private readonly maxElem = 1048576,
  ) {
    super();
  }

  private setName(v6: boolean): string {
    return `${this.prefix}${v6 ? '6' : '4'}`;
  }

  private rules(): { tool: string; set: string; chain: string }[] {
    const out = [];
    for (const [tool, v6] of [
      ['iptables', false],
      ['ip6tables', true],
    ] as const) {
      for (const chain of ['INPUT', 'FORWARD']) out.push({ tool, set: this.setName(v6), chain });
    }
    return out;
  }

  private ruleArgs(set: string, chain: string): string[] {
    return [chain, '-m', 'set', '--match-set', set, 'src', '-m', 'comment', '--comment', 'palisade', '-j', 'DROP'];
  }

  async init(): Promise<KernelEntry[]> {
    const create = [false, true]
      .map((v6) => `create ${this.setName(v6)} hash:net family ${v6 ? 'inet6' : 'inet'} timeout 0 maxelem ${this.maxElem}`)
      .join('\n');
    await mustRun('ipset', ['restore', '-exist'], `${create}\n`);
    for (const r of this.rules()) {
      const check = await runTool(r.tool, ['-w', '-C', ...this.ruleArgs(r.set, r.chain)]);
      if (check.code !== 0) await mustRun(r.tool, ['-w', '-I', ...this.ruleArgs(r.set, r.chain).slice(0, 1), '1', ...this.ruleArgs(r.set, r.chain).slice(1)]);
    }
    const out: KernelEntry[] = [];
    const now = Date.now() / 1000;
    for (const v6 of [false, true]) {
      const text = await mustRun('ipset', ['save', this.setName(v6)]);
      for (const line of text.split('\n')) {
        const m = /^add \S+ (\S+)(?: timeout (\d+))?/.exec(line);
        const key = m ? Cidr.parse(m[1]!)?.toString() : undefined;
        if (key) out.push({ key, until: m![2] === undefined || m![2] === '0' ? null : now + Number(m![2]) });
      }
    }
    return out;
  }

  batch(queue: readonly Op[], now: number): { text: string; ops: number } {
    const lines: string[] = [];
    for (const o of queue) {
      if (o.op === 'add') {
        if (o.e.until <= now) continue;
        const t = timeoutSeconds(o.e.until, now, IPSET_MAX_TIMEOUT);
        lines.push(`add ${this.setName(o.e.scope.addr.v6)} ${o.e.scope.toString()} timeout ${t}`);
      } else {
        lines.push(`del ${this.setName(o.scope.addr.v6)} ${o.scope.toString()}`);
      }
    }
    return { text: lines.length ? `${lines.join('\n')}\n` : '', ops: lines.length };
  }

  protected async apply(queue: readonly Op[], now: number): Promise<number> {
    const { text, ops } = this.batch(queue, now);
    await applyBatch('ipset', ['restore', '-exist'], text);
    return ops;
  }

  async shutdown(flush: boolean): Promise<void> {
    if (!flush) return;
    for (const r of this.rules()) await runTool(r.tool, ['-w', '-D', ...this.ruleArgs(r.set, r.chain)]);
    for (const v6 of [false, true]) await runTool('ipset', ['destroy', this.setName(v6)]);
  }
}
