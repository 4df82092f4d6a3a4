// The iptables backend, for hosts with neither nftables nor ipset (the seed's method): one DROP
// rule per ban in Palisade's own chain, jumped to from the top of INPUT and FORWARD, for IPv4
// (iptables) and IPv6 (ip6tables). The kernel cannot expire these: the policy's expiry deletes
// them, and init deletes those left from a previous run that nothing restores.

import { Cidr } from '../core/addr.js';
import { QueuedBackend, applyBatch, mustRun, runTool, type KernelEntry, type Op } from './backend.js';

const TOOLS = [
  ['iptables', false],
  ['ip6tables', true],
] as const;

export class IptablesBackend extends QueuedBackend {
  readonly name = 'iptables';
  readonly kernelExpiry = false;
  /** No kernel timeouts at all: the policy's expiry deletes the rule. */
  readonly maxTimeout = Infinity;
  /** Rules in our chains, by key. */
  private readonly present = new Set<string>();

  constructor(private readonly chain = 'palisade') {
    super();
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

  /** One iptables-restore --noflush input per family; adds of present and deletes of absent rules are skipped. */
  batch(queue: readonly Op[], now: number): { inputs: { tool: string; input: string; ops: Op[] }[]; ops: number } {
    const lines: Record<string, string[]> = { iptables: [], ip6tables: [] };
    const byTool: Record<string, Op[]> = { iptables: [], ip6tables: [] };
    const have = new Set(this.present);
    let ops = 0;
    for (const o of queue) {
      const scope = o.op === 'add' ? o.e.scope : o.scope;
      const key = o.op === 'add' ? o.e.key : o.key;
      const tool = scope.addr.v6 ? 'ip6tables' : 'iptables';
      byTool[tool]!.push(o);
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
    const inputs: { tool: string; input: string; ops: Op[] }[] = [];
    for (const [tool, l] of Object.entries(lines)) if (l.length) inputs.push({ tool: `${tool}-restore`, input: `*filter\n${l.join('\n')}\nCOMMIT\n`, ops: byTool[tool]! });
    return { inputs, ops };
  }

  protected async apply(queue: readonly Op[], now: number): Promise<number> {
    const { inputs, ops } = this.batch(queue, now);
    for (const { tool, input, ops: done } of inputs) {
      await applyBatch(tool, ['-w', '--noflush'], input);
      // One family is in: a retry after the other one fails must not add its rules twice.
      for (const o of done) this.applied(o, now);
    }
    return ops;
  }

  protected override applied(o: Op, now: number): void {
    if (o.op === 'del') this.present.delete(o.key);
    else if (o.e.until > now) this.present.add(o.e.key);
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

  override metrics(): Record<string, number> {
    return { ...super.metrics(), rules: this.present.size };
  }
}

/** The dry-run backend: logs what it would do and changes nothing. */
export class DryRunBackend extends QueuedBackend {
  readonly name = 'dry-run';
  readonly kernelExpiry = true;
  readonly maxTimeout = Infinity;

  constructor(private readonly log: (msg: string, fields: Record<string, unknown>) => void) {
    super();
  }

  async init(): Promise<KernelEntry[]> {
    return [];
  }

  protected async apply(queue: readonly Op[], now: number): Promise<number> {
    for (const o of queue) {
      if (o.op === 'add') this.log('dry run: would ban', { scope: o.e.key, seconds: Math.round(o.e.until - now) });
      else this.log('dry run: would unban', { scope: o.key });
    }
    return queue.length;
  }

  async shutdown(): Promise<void> {}
}
