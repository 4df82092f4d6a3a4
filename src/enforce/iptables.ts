// The iptables backend, for hosts with neither nftables nor ipset (the seed's method): one DROP
// rule per ban in Palisade's own chain, jumped to from the top of INPUT and FORWARD, for IPv4
// (iptables) and IPv6 (ip6tables). The kernel cannot expire these: the policy's expiry deletes
// them, and init deletes those left from a previous run that nothing restores.

import { Cidr } from '../core/addr.js';
import { OpQueue, mustRun, runTool, toolError, type BanEntry, type FirewallBackend, type KernelEntry } from './backend.js';

const TOOLS = [
  ['iptables', false],
  ['ip6tables', true],
] as const;

export class IptablesBackend implements FirewallBackend {
  readonly name = 'iptables';
  readonly kernelExpiry = false;
  private readonly q = new OpQueue();
  private readonly m = { commits: 0, failures: 0, added: 0, deleted: 0, batch_max: 0 };
  /** Rules in our chains, by key. */
  private readonly present = new Set<string>();

  constructor(private readonly chain = 'palisade') {}

  get pending(): number {
    return this.q.length;
  }

  async init(): Promise<KernelEntry[]> {
    this.present.clear();
    for (const [tool] of TOOLS) {
      const exists = await runTool(tool, ['-w', '-n', '-L', this.chain]);
      if (exists.code !== 0) await mustRun(tool, ['-w', '-N', this.chain]);
      for (const hook of ['INPUT', 'FORWARD']) {
        const jump = [hook, '-m', 'comment', '--comment', 'palisade', '-j', this.chain];
        const check = await runTool(tool, ['-w', '-C', ...jump]);
        if (check.code !== 0) await mustRun(tool, ['-w', '-I', hook, '1', ...jump.slice(1)]);
      }
      const rules = await mustRun(tool, ['-w', '-S', this.chain]);
      for (const line of rules.split('\n')) {
        const m = new RegExp(`^-A ${this.chain} -s (\\S+) -j DROP`).exec(line);
        const key = m ? Cidr.parse(m[1]!)?.toString() : undefined;
        if (key) this.present.add(key);
      }
    }
    return [...this.present].map((key) => ({ key, until: null }));
  }

  add(e: BanEntry): void {
    this.q.add(e);
  }

  delete(key: string, scope: Cidr): void {
    this.q.delete(key, scope);
  }

  /** One iptables-restore --noflush input per family; adds of present and deletes of absent rules are skipped. */
  batch(now: number): { inputs: [string, string][]; ops: number } {
    const lines: Record<string, string[]> = { iptables: [], ip6tables: [] };
    const have = new Set(this.present);
    let ops = 0;
    for (const o of this.q.ops) {
      const scope = o.op === 'add' ? o.e.scope : o.scope;
      const key = o.op === 'add' ? o.e.key : o.key;
      const tool = scope.addr.v6 ? 'ip6tables' : 'iptables';
      if (o.op === 'add') {
        if (o.e.until <= now || have.has(key)) continue;
        lines[tool]!.push(`-A ${this.chain} -s ${key} -j DROP`);
        have.add(key);
      } else {
        if (!have.has(key)) continue;
        lines[tool]!.push(`-D ${this.chain} -s ${key} -j DROP`);
        have.delete(key);
      }
      ops++;
    }
    const inputs: [string, string][] = [];
    for (const [tool, l] of Object.entries(lines)) if (l.length) inputs.push([`${tool}-restore`, `*filter\n${l.join('\n')}\nCOMMIT\n`]);
    return { inputs, ops };
  }

  async commit(now: number): Promise<number> {
    const n = this.q.length;
    if (n === 0) return 0;
    const { inputs, ops } = this.batch(now);
    for (const [tool, input] of inputs) {
      const r = await runTool(tool, ['-w', '--noflush'], input);
      if (r.code !== 0) {
        this.m.failures++;
        throw toolError(tool, ['--noflush'], r);
      }
    }
    for (const o of this.q.ops.splice(0, n)) {
      if (o.op === 'add') {
        if (o.e.until > now && !this.present.has(o.e.key)) this.m.added++;
        if (o.e.until > now) this.present.add(o.e.key);
      } else if (this.present.delete(o.key)) this.m.deleted++;
    }
    this.m.commits++;
    this.m.batch_max = Math.max(this.m.batch_max, ops);
    return ops;
  }

  async shutdown(flush: boolean): Promise<void> {
    if (!flush) return;
    for (const [tool] of TOOLS) {
      for (const hook of ['INPUT', 'FORWARD']) await runTool(tool, ['-w', '-D', hook, '-m', 'comment', '--comment', 'palisade', '-j', this.chain]);
      await runTool(tool, ['-w', '-F', this.chain]);
      await runTool(tool, ['-w', '-X', this.chain]);
    }
    this.present.clear();
  }

  metrics(): Record<string, number> {
    return { ...this.m, pending: this.q.length, rules: this.present.size };
  }
}

/** The dry-run backend: logs what it would do and changes nothing. */
export class DryRunBackend implements FirewallBackend {
  readonly name = 'dry-run';
  readonly kernelExpiry = true;
  private readonly q = new OpQueue();
  private readonly m = { commits: 0, added: 0, deleted: 0 };

  constructor(private readonly log: (msg: string, fields: Record<string, unknown>) => void) {}

  get pending(): number {
    return this.q.length;
  }

  async init(): Promise<KernelEntry[]> {
    return [];
  }

  add(e: BanEntry): void {
    this.q.add(e);
  }

  delete(key: string, scope: Cidr): void {
    this.q.delete(key, scope);
  }

  async commit(now: number): Promise<number> {
    const ops = this.q.ops.splice(0);
    for (const o of ops) {
      if (o.op === 'add') {
        this.m.added++;
        this.log('dry run: would ban', { scope: o.e.key, seconds: Math.round(o.e.until - now) });
      } else {
        this.m.deleted++;
        this.log('dry run: would unban', { scope: o.key });
      }
    }
    this.m.commits++;
    return ops.length;
  }

  async shutdown(): Promise<void> {}

  metrics(): Record<string, number> {
    return { ...this.m, pending: this.q.length };
  }
}
