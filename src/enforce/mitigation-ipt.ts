// Flood mitigation on iptables / ip6tables (the ipset and iptables backends): Palisade's own
// chain `<name>-mit` in the filter table, jumped to from INPUT and FORWARD (after Palisade's ban
// rules), starting with `-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`, then one jump per
// mitigation (`-d <victim> -j pm-<kind>-<tag>`) to a chain holding that mitigation's rules, with
// `-m hashlimit --hashlimit-above` per victim[/port]. Every change is one `iptables-restore
// --noflush` of the filter table, which the kernel takes as a whole or not at all. ICMP echo
// limits are jumped to before the RETURN (a ping flood's requests are established once one was
// answered). Nothing here ever ACCEPTs: RETURN hands the packet back to INPUT / FORWARD.
//
// Not here: frag_flood (the filter and raw tables run after the kernel's defragmentation, which
// conntrack turns on: iptables never sees a fragment then) and synproxy (it needs the raw table
// too: two tables are two commits, not one atomic change).

import { createHash } from 'node:crypto';
import { PalisadeError } from '../core/errors.js';
import { toolError } from './backend.js';
import type { Mitigation, MitigationDriver, MitigationKind, Support, ToolRunner } from './mitigation.js';

const ABBR: Record<MitigationKind, string> = {
  syn_flood: 'syn',
  ack_flood: 'ack',
  rst_flood: 'rst',
  udp_flood: 'udp',
  icmp_flood: 'icmp',
  frag_flood: 'frag',
  synack_reflection: 'synack',
  udp_amplification: 'amp',
};

const UNSOLICITED = '-m conntrack --ctstate NEW,INVALID,UNTRACKED';

export interface IptPart {
  tool: 'iptables' | 'ip6tables';
  /** The mitigation's chain (at most 20 characters: iptables takes 28). */
  chain: string;
  /** early: jumped to before the RETURN of established connections. */
  stage: 'early' | 'main';
  /** The jump's match and the chain's rules, as `-A <chain>` takes them. */
  match: string;
  rules: string[];
}

/** The chain and rules of one mitigation; null when iptables cannot do it. Pure. */
export function iptPart(m: Mitigation): IptPart | null {
  if (m.kind === 'frag_flood' || m.synproxy) return null;
  const chain = `pm-${ABBR[m.kind]}-${m.tag.slice(0, 10)}`;
  const d = `-d ${m.victim}/${m.v6 ? 128 : 32}`;
  const mode = m.port === null ? 'dstip' : 'dstip,dstport';
  // A hashlimit table keeps the settings it was created with while any rule uses its name, and
  // an update's new rule is checked before the old one goes: a new name for new settings.
  const hname = `pm${createHash('sha256').update(`${m.tag}\0${m.rate}\0${m.burst}\0${mode}`).digest('hex').slice(0, 12)}`;
  // Rate 0: no limit, every matching packet is dropped.
  const hl = m.rate === 0 ? '' : ` -m hashlimit --hashlimit-above ${m.rate}/sec --hashlimit-burst ${m.burst} --hashlimit-mode ${mode} --hashlimit-name ${hname}`;
  const dport = m.port === null ? '' : ` --dport ${m.port}`;
  const part = (stage: 'early' | 'main', ...rules: string[]): IptPart => ({ tool: m.v6 ? 'ip6tables' : 'iptables', chain, stage, match: d, rules });
  switch (m.kind) {
    case 'syn_flood':
      return part('main', `${d} -p tcp${dport} --syn ${UNSOLICITED}${hl} -j DROP`);
    case 'ack_flood':
      return part('main', `${d} -p tcp${dport} --tcp-flags SYN,RST,ACK ACK ${UNSOLICITED}${hl} -j DROP`);
    case 'rst_flood':
      return part('main', `${d} -p tcp${dport} --tcp-flags RST RST ${UNSOLICITED}${hl} -j DROP`);
    case 'synack_reflection':
      return part('main', `${d} -p tcp${dport} --tcp-flags FIN,SYN,RST,ACK SYN,ACK ${UNSOLICITED}${hl} -j DROP`);
    case 'udp_flood':
      return part('main', `${d} -p udp${dport} ${UNSOLICITED}${hl} -j DROP`);
    case 'icmp_flood':
      return part('early', `${d} ${m.v6 ? '-p ipv6-icmp --icmpv6-type' : '-p icmp --icmp-type'} echo-request${hl} -j DROP`);
    case 'udp_amplification': {
      const ports = m.amplifierPorts!;
      const rules: string[] = [];
      // multiport takes at most 15 ports per rule.
      for (let i = 0; i < ports.length; i += 15) rules.push(`${d} -p udp${dport} -m multiport --sports ${ports.slice(i, i + 15).join(',')} ${UNSOLICITED} -j DROP`);
      return part('main', ...rules);
    }
  }
  return null;
}

const TOOLS = ['iptables', 'ip6tables'] as const;

export class IptMitigation implements MitigationDriver {
  private readonly base: string;

  constructor(
    name: string,
    private readonly run: ToolRunner,
  ) {
    this.base = `${name}-mit`;
  }

  supported(kind: MitigationKind, synproxy: boolean): Support {
    if (kind === 'frag_flood')
      return {
        ok: false,
        reason: "iptables sees packets only after the kernel's defragmentation (conntrack turns it on; its hook runs before the raw table), so it never sees a fragment: use the nftables backend",
      };
    if (synproxy) return { ok: false, reason: 'synproxy needs a notrack rule in the raw table and a SYNPROXY rule in filter: two commits, not one atomic change; use the rate limit or the nftables backend' };
    return { ok: true };
  }

  private async tool(cmd: string, args: readonly string[], input = ''): Promise<string> {
    const r = await this.run(cmd, args, input);
    if (r.code !== 0) throw toolError(cmd, args, r);
    return r.stdout;
  }

  private restore(tool: string, lines: readonly string[]): Promise<string> {
    return this.tool(`${tool}-restore`, ['-w', '--noflush'], `*filter\n${lines.join('\n')}\nCOMMIT\n`);
  }

  private jumpSpec(): string {
    return `-m comment --comment ${this.base} -j ${this.base}`;
  }

  /** What the filter table holds of ours: does the base chain exist, what it jumps to, our jumps per hook, where the ban rules end. */
  private async survey(tool: string): Promise<{ exists: boolean; targets: string[]; jumps: Record<string, number>; after: Record<string, number> }> {
    const text = await this.tool(tool, ['-w', '-S']);
    const lines = text.split('\n');
    const jumps: Record<string, number> = { INPUT: 0, FORWARD: 0 };
    const after: Record<string, number> = { INPUT: 0, FORWARD: 0 };
    const idx: Record<string, number> = { INPUT: 0, FORWARD: 0 };
    const targets: string[] = [];
    let exists = false;
    for (const l of lines) {
      if (l === `-N ${this.base}`) exists = true;
      const hook = /^-A (INPUT|FORWARD) /.exec(l)?.[1];
      if (hook) {
        idx[hook]!++;
        if (l.endsWith(` -j ${this.base}`)) jumps[hook]!++;
        // Palisade's ban rules (ipset's match-set DROP, iptables' jump to its chain): ours goes after them.
        else if (/ --comment "?palisade"?( |$)/.test(l)) after[hook] = idx[hook]!;
      }
      const t = new RegExp(`^-A ${this.base.replace(/[-]/g, '\\-')} .*-j (\\S+)$`).exec(l)?.[1];
      if (t && t !== 'RETURN') targets.push(t);
    }
    return { exists, targets: [...new Set(targets)], jumps, after };
  }

  private addLines(p: IptPart): string[] {
    return [
      ...p.rules.map((r) => `-A ${p.chain} ${r}`),
      p.stage === 'early' ? `-I ${this.base} 1 ${p.match} -j ${p.chain}` : `-A ${this.base} ${p.match} -j ${p.chain}`,
    ];
  }

  private removeLines(p: IptPart): string[] {
    return [`-D ${this.base} ${p.match} -j ${p.chain}`, `-F ${p.chain}`, `-X ${p.chain}`];
  }

  async init(active: readonly Mitigation[]): Promise<void> {
    for (const tool of TOOLS) {
      const s = await this.survey(tool);
      const parts = active.map(iptPart).filter((p): p is IptPart => p !== null && p.tool === tool);
      const keep = new Set(parts.map((p) => p.chain));
      const stale = s.targets.filter((c) => !keep.has(c));
      // Declaring a chain creates it or (with --noflush) empties it.
      const lines = [`:${this.base} - [0:0]`, ...parts.map((p) => `:${p.chain} - [0:0]`)];
      for (const c of stale) lines.push(`-F ${c}`, `-X ${c}`);
      lines.push(`-A ${this.base} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`);
      for (const hook of ['INPUT', 'FORWARD']) {
        if (s.jumps[hook] === 0) lines.push(`-I ${hook} ${s.after[hook]! + 1} ${this.jumpSpec()}`);
        for (let i = 1; i < s.jumps[hook]!; i++) lines.push(`-D ${hook} ${this.jumpSpec()}`);
      }
      for (const p of parts) lines.push(...this.addLines(p));
      await this.restore(tool, lines);
    }
  }

  async apply(m: Mitigation, prev: Mitigation | undefined): Promise<void> {
    const p = iptPart(m)!;
    const old = prev ? iptPart(prev) : null;
    if (old && old.tool !== p.tool)
      throw new PalisadeError('PAL_ERR_FIREWALL', `mitigation ${m.id}: its victim changed address family (${prev!.victim} to ${m.victim}); withdraw it first`);
    const lines = [`:${p.chain} - [0:0]`, ...p.rules.map((r) => `-A ${p.chain} ${r}`)];
    if (!old) lines.push(this.addLines(p).at(-1)!);
    else if (old.chain !== p.chain) lines.push(this.addLines(p).at(-1)!, ...this.removeLines(old));
    else if (old.match !== p.match) lines.push(`-D ${this.base} ${old.match} -j ${old.chain}`, this.addLines(p).at(-1)!);
    await this.restore(p.tool, lines);
  }

  async withdraw(m: Mitigation): Promise<void> {
    const p = iptPart(m)!;
    await this.restore(p.tool, this.removeLines(p));
  }

  async shutdown(): Promise<void> {
    for (const tool of TOOLS) {
      const s = await this.survey(tool);
      if (!s.exists) continue;
      const lines: string[] = [];
      for (const hook of ['INPUT', 'FORWARD']) for (let i = 0; i < s.jumps[hook]!; i++) lines.push(`-D ${hook} ${this.jumpSpec()}`);
      lines.push(`-F ${this.base}`);
      for (const c of s.targets) lines.push(`-F ${c}`, `-X ${c}`);
      lines.push(`-X ${this.base}`);
      await this.restore(tool, lines);
    }
  }

  async counters(active: readonly Mitigation[]): Promise<Record<string, { packets: number; bytes: number }>> {
    const out: Record<string, { packets: number; bytes: number }> = {};
    const byChain = new Map<string, string>();
    const tools = new Set<string>();
    for (const m of active) {
      out[m.id] = { packets: 0, bytes: 0 };
      const p = iptPart(m);
      if (p) {
        byChain.set(p.chain, m.id);
        tools.add(p.tool);
      }
    }
    for (const tool of tools) {
      const text = await this.tool(`${tool}-save`, ['-c', '-t', 'filter']);
      for (const l of text.split('\n')) {
        const r = /^\[(\d+):(\d+)\] -A (\S+) /.exec(l);
        const id = r ? byChain.get(r[3]!) : undefined;
        if (!id) continue;
        out[id]!.packets += Number(r![1]);
        out[id]!.bytes += Number(r![2]);
      }
    }
    return out;
  }
}
