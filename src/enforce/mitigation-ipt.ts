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
//
// Known-good clients (unless off): ipset sets `<name>-good4` (hash:ip) and `<name>-good6`
// (hash:ip, netmask 64: keyed by /64), with a default timeout and a maxelem, filled by the first
// rule of `<name>-mit`: `-p tcp -m conntrack --ctstate ESTABLISHED --ctstatus ASSURED --ctdir
// ORIGINAL -m connbytes --connbytes 2:3 --connbytes-dir original --connbytes-mode packets -j SET
// --add-set <set> src --exist` (a connection's 2nd and 3rd packets from its client, once conntrack
// saw the handshake complete; --exist refreshes the timeout). syn_flood, ack_flood and udp_flood
// skip sources in the set (`-m set ! --match-set <set> src`, before the hashlimit, which would
// otherwise take a token). The sets are made with `ipset` before the rules that use them and
// destroyed after the last rule using them went: two tools, so not one transaction; a set whose
// settings changed is replaced by `ipset swap` (rules keep working throughout). Without the ipset
// tool the mitigations run without known-good clients (`knownGoodOff` says why).

import { createHash } from 'node:crypto';
import { PalisadeError } from '../core/errors.js';
import { toolError, type ToolResult } from './backend.js';
import { exemptsKnownGood, type KnownGood, type Mitigation, type MitigationDriver, type MitigationKind, type Support, type ToolRunner } from './mitigation.js';

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

/** The known-good set of a family: `<name>-good4`, `<name>-good6`. */
export const iptGoodSet = (name: string, v6: boolean): string => `${name}-good${v6 ? 6 : 4}`;

/** The learning rule that starts `<name>-mit` (before the RETURN of established packets). */
export const iptLearnRule = (set: string): string =>
  `-p tcp -m conntrack --ctstate ESTABLISHED --ctstatus ASSURED --ctdir ORIGINAL -m connbytes --connbytes 2:3 --connbytes-dir original --connbytes-mode packets -j SET --add-set ${set} src --exist`;

/**
 * The chain and rules of one mitigation; null when iptables cannot do it. With `good` (the
 * known-good set of m's family), the kinds that exempt known-good clients skip its sources. Pure.
 */
export function iptPart(m: Mitigation, good: string | null = null): IptPart | null {
  if (m.kind === 'frag_flood' || m.synproxy) return null;
  const chain = `pm-${ABBR[m.kind]}-${m.tag.slice(0, 10)}`;
  const d = `-d ${m.victim}/${m.v6 ? 128 : 32}`;
  const mode = m.port === null ? 'dstip' : 'dstip,dstport';
  // A hashlimit table keeps the settings it was created with while any rule uses its name, and
  // an update's new rule is checked before the old one goes: a new name for new settings.
  const hname = `pm${createHash('sha256').update(`${m.tag}\0${m.rate}\0${m.burst}\0${mode}`).digest('hex').slice(0, 12)}`;
  // Rate 0: no limit, every matching packet is dropped.
  const skip = good !== null && exemptsKnownGood(m) ? ` -m set ! --match-set ${good} src` : '';
  const hl = `${skip}${m.rate === 0 ? '' : ` -m hashlimit --hashlimit-above ${m.rate}/sec --hashlimit-burst ${m.burst} --hashlimit-mode ${mode} --hashlimit-name ${hname}`}`;
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

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The ipset tool is not there (runTool: 127; `ip netns exec`: its exec failed). */
const noIpset = (r: ToolResult): boolean => r.code === 127 || /exec of "ipset" failed/.test(r.stderr);

export class IptMitigation implements MitigationDriver {
  private readonly base: string;
  knownGoodOff: string | null = null;

  constructor(
    private readonly name: string,
    private readonly run: ToolRunner,
    private readonly good: KnownGood = null,
  ) {
    this.base = `${name}-mit`;
  }

  /** The known-good set of a family, when in use. */
  private goodSet(v6: boolean): string | null {
    return this.good !== null && this.knownGoodOff === null ? iptGoodSet(this.name, v6) : null;
  }

  private part(m: Mitigation): IptPart | null {
    return iptPart(m, this.goodSet(m.v6));
  }

  /**
   * Creates the known-good sets, or replaces one whose settings changed (a new set swapped in:
   * the rules using it keep working; what it learnt is lost). False when there is no ipset tool.
   */
  private async ensureSets(): Promise<boolean> {
    const g = this.good!;
    for (const v6 of [false, true]) {
      const set = iptGoodSet(this.name, v6);
      const create = (n: string): string[] => ['create', n, 'hash:ip', 'family', v6 ? 'inet6' : 'inet', ...(v6 ? ['netmask', '64'] : []), 'timeout', String(g.timeout), 'maxelem', String(g.size)];
      const r = await this.run('ipset', ['list', '-t', set]);
      if (noIpset(r)) return false;
      if (r.code !== 0) {
        if (!/does not exist/.test(r.stderr)) throw toolError('ipset', ['list', '-t', set], r);
        await this.tool('ipset', create(set));
        continue;
      }
      const header = /^Header: (.*)$/m.exec(r.stdout)?.[1] ?? '';
      const field = (k: string): string | undefined => new RegExp(`(?:^| )${k} (\\S+)`).exec(header)?.[1];
      const same =
        /^Type: hash:ip$/m.test(r.stdout) &&
        field('family') === (v6 ? 'inet6' : 'inet') &&
        field('maxelem') === String(g.size) &&
        field('timeout') === String(g.timeout) &&
        field('netmask') === (v6 ? '64' : undefined);
      if (same) continue;
      const tmp = `${set}n`;
      await this.run('ipset', ['destroy', tmp]);
      await this.tool('ipset', create(tmp));
      await this.tool('ipset', ['swap', tmp, set]);
      await this.tool('ipset', ['destroy', tmp]);
    }
    return true;
  }

  /** Destroys the known-good sets that exist (no rule of ours may use them any more). */
  private async destroySets(): Promise<void> {
    for (const v6 of [false, true]) {
      const set = iptGoodSet(this.name, v6);
      for (let i = 0; ; i++) {
        const r = await this.run('ipset', ['destroy', set]);
        if (r.code === 0 || noIpset(r) || /does not exist/.test(r.stderr)) break;
        // iptables-nft may drop a deleted rule's reference to the set just after its commit.
        if (i < 20 && /in use/.test(r.stderr)) {
          await sleep(50);
          continue;
        }
        throw toolError('ipset', ['destroy', set], r);
      }
    }
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
      if (t && t !== 'RETURN' && t !== 'SET') targets.push(t);
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
    if (this.good) {
      // Before the rules that use them.
      const ok = await this.ensureSets();
      this.knownGoodOff = ok ? null : 'the ipset tool is not installed: mitigations limit every source (install ipset for known-good clients)';
    }
    for (const tool of TOOLS) {
      const s = await this.survey(tool);
      const parts = active.map((m) => this.part(m)).filter((p): p is IptPart => p !== null && p.tool === tool);
      const keep = new Set(parts.map((p) => p.chain));
      const stale = s.targets.filter((c) => !keep.has(c));
      // Declaring a chain creates it or (with --noflush) empties it.
      const lines = [`:${this.base} - [0:0]`, ...parts.map((p) => `:${p.chain} - [0:0]`)];
      for (const c of stale) lines.push(`-F ${c}`, `-X ${c}`);
      // Clients that complete a handshake are learnt (first packets only), before the RETURN.
      const good = this.goodSet(tool === 'ip6tables');
      if (good) lines.push(`-A ${this.base} ${iptLearnRule(good)}`);
      lines.push(`-A ${this.base} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`);
      for (const hook of ['INPUT', 'FORWARD']) {
        if (s.jumps[hook] === 0) lines.push(`-I ${hook} ${s.after[hook]! + 1} ${this.jumpSpec()}`);
        for (let i = 1; i < s.jumps[hook]!; i++) lines.push(`-D ${hook} ${this.jumpSpec()}`);
      }
      for (const p of parts) lines.push(...this.addLines(p));
      await this.restore(tool, lines);
    }
    // Left by a run that had them on: no rule uses them now.
    if (!this.goodSet(false)) await this.destroySets();
  }

  async apply(m: Mitigation, prev: Mitigation | undefined): Promise<void> {
    const p = this.part(m)!;
    const old = prev ? this.part(prev) : null;
    if (old && old.tool !== p.tool)
      throw new PalisadeError('PAL_ERR_FIREWALL', `mitigation ${m.id}: its victim changed address family (${prev!.victim} to ${m.victim}); withdraw it first`);
    const lines = [`:${p.chain} - [0:0]`, ...p.rules.map((r) => `-A ${p.chain} ${r}`)];
    if (!old) lines.push(this.addLines(p).at(-1)!);
    else if (old.chain !== p.chain) lines.push(this.addLines(p).at(-1)!, ...this.removeLines(old));
    else if (old.match !== p.match) lines.push(`-D ${this.base} ${old.match} -j ${old.chain}`, this.addLines(p).at(-1)!);
    await this.restore(p.tool, lines);
  }

  async withdraw(m: Mitigation): Promise<void> {
    const p = this.part(m)!;
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
    // After every rule that used them.
    await this.destroySets();
  }

  async counters(active: readonly Mitigation[]): Promise<Record<string, { packets: number; bytes: number }>> {
    const out: Record<string, { packets: number; bytes: number }> = {};
    const byChain = new Map<string, string>();
    const tools = new Set<string>();
    for (const m of active) {
      out[m.id] = { packets: 0, bytes: 0 };
      const p = this.part(m);
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
