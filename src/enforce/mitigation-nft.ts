// Flood mitigation on nftables: chains in Palisade's own `table inet <name>` and nowhere else.
// Four base chains of ours (their names start with `mit_`, like every chain this file makes):
//
//   mit_frag     prerouting, priority -450: before the kernel's defragmentation (-400), the only
//                place fragments are seen as fragments (frag_flood)
//   mit_raw      prerouting, priority raw (-300): before conntrack (synproxy's notrack of SYNs)
//   mit_input    input, priority -5 (after the ban chains at -10): `ct state established,related
//   mit_forward  forward, priority -5          accept`, then a jump per mitigation
//
// Each mitigation is one regular chain (two for synproxy: its `_raw` part) holding its rules,
// jumped to from the base chains with `<ip|ip6> daddr <victim> jump <chain>`. Adding one adds its
// chain and its jumps; withdrawing deletes its jumps (found by handle) and its chain; updating
// flushes and refills its chain. Each is one `nft -f` transaction, so other mitigations and the
// ban sets are never touched. ICMP echo limits are jumped to before the established accept:
// conntrack marks a ping flood's requests established once one was answered.
//
// Known-good clients (unless off): dynamic sets `mit_good4` (ipv4_addr) and `mit_good6` (IPv6 /64
// prefixes), `flags dynamic, timeout`, filled by the kernel from the established packets of
// mit_input / mit_forward: a TCP connection of ours whose handshake completed (`ct status assured`:
// conntrack saw the client's valid ACK of the SYN-ACK), on its 2nd and 3rd packets from the client
// only (`ct original packets < 4`), refreshes its source's entry. syn_flood (rate limit),
// ack_flood and udp_flood skip sources in the set (`ip saddr != @mit_good4` before the limit).
// A full set fails the update, which ends that rule only: the packet goes on.

import { PalisadeError } from '../core/errors.js';
import { toolError } from './backend.js';
import { nftDuration } from './nftables.js';
import { exemptsKnownGood, type KnownGood, type Mitigation, type MitigationDriver, type MitigationKind, type Support, type ToolRunner } from './mitigation.js';

export type NftStage = 'frag' | 'raw' | 'early' | 'main';

/** The base chains each stage is jumped to from. */
const BASES: Record<NftStage, readonly string[]> = {
  frag: ['mit_frag'],
  raw: ['mit_raw'],
  early: ['mit_input', 'mit_forward'],
  main: ['mit_input', 'mit_forward'],
};

const BASE_CHAINS: readonly { chain: string; hook: string; prio: string; ct: boolean }[] = [
  { chain: 'mit_frag', hook: 'prerouting', prio: '-450', ct: false },
  { chain: 'mit_raw', hook: 'prerouting', prio: '-300', ct: false },
  { chain: 'mit_input', hook: 'input', prio: '-5', ct: true },
  { chain: 'mit_forward', hook: 'forward', prio: '-5', ct: true },
];

/** Packets that conntrack did not match to a connection (the established accept ran before). */
const UNSOLICITED = 'ct state new,invalid,untracked';

/** The known-good sets, by family. */
export const NFT_GOOD_SETS = { v4: 'mit_good4', v6: 'mit_good6' } as const;

/** A source as the known-good sets key it: IPv4 by address, IPv6 by /64. */
export const nftGoodKey = (v6: boolean): string => (v6 ? 'ip6 saddr & ffff:ffff:ffff:ffff::' : 'ip saddr');

/**
 * The learning rules of the base chains mit_input / mit_forward (before the established accept):
 * a connection's 2nd and 3rd packets from its client, once conntrack saw the handshake complete.
 */
export function nftLearnRules(): string[] {
  return [false, true].map(
    (v6) => `meta l4proto tcp ct direction original ct status assured ct original packets < 4 update @${v6 ? NFT_GOOD_SETS.v6 : NFT_GOOD_SETS.v4} { ${nftGoodKey(v6)} }`,
  );
}

export interface NftPart {
  stage: NftStage;
  chain: string;
  rules: string[];
}

/**
 * The chains and rules of one mitigation (rule text as `nft add rule` takes it); with `good`, the
 * kinds that exempt known-good clients skip sources in the sets (checked before the limit, so
 * their packets take no token). Pure.
 */
export function nftParts(m: Mitigation, good = true): NftPart[] {
  const base = `mit_${m.kind}_${m.tag.slice(0, 12)}`;
  const d = `${m.v6 ? 'ip6' : 'ip'} daddr ${m.victim}`;
  const skip = good && exemptsKnownGood(m) ? ` ${nftGoodKey(m.v6)} != @${m.v6 ? NFT_GOOD_SETS.v6 : NFT_GOOD_SETS.v4}` : '';
  // Rate 0: no limit, every matching packet is dropped.
  const limit = `${skip}${m.rate === 0 ? '' : ` limit rate over ${m.rate}/second burst ${m.burst} packets`}`;
  const dport = (proto: string): string => (m.port === null ? '' : `${proto} dport ${m.port} `);
  const main = (...rules: string[]): NftPart[] => [{ stage: 'main', chain: base, rules }];
  const k: MitigationKind = m.kind;
  switch (k) {
    case 'syn_flood':
      if (m.synproxy) {
        const to = `${d} tcp dport ${m.port}`;
        return [
          { stage: 'raw', chain: `${base}_raw`, rules: [`${to} tcp flags & (fin|syn|rst|ack) == syn notrack`] },
          {
            stage: 'main',
            chain: base,
            rules: [`${to} ct state invalid,untracked counter synproxy mss ${m.v6 ? 1440 : 1460} wscale 7 timestamp sack-perm`, `${to} ct state invalid,untracked counter drop`],
          },
        ];
      }
      return main(`${d} ${dport('tcp')}tcp flags & (fin|syn|rst|ack) == syn ${UNSOLICITED}${limit} counter drop`);
    case 'ack_flood':
      return main(`${d} ${dport('tcp')}tcp flags & (syn|rst|ack) == ack ${UNSOLICITED}${limit} counter drop`);
    case 'rst_flood':
      return main(`${d} ${dport('tcp')}tcp flags & rst == rst ${UNSOLICITED}${limit} counter drop`);
    case 'synack_reflection':
      return main(`${d} ${dport('tcp')}tcp flags & (fin|syn|rst|ack) == syn|ack ${UNSOLICITED}${limit} counter drop`);
    case 'udp_flood':
      return main(`${d} ${m.port === null ? 'meta l4proto udp ' : dport('udp')}${UNSOLICITED}${limit} counter drop`);
    case 'udp_amplification':
      return main(`${d} udp sport { ${m.amplifierPorts!.join(', ')} } ${dport('udp')}${UNSOLICITED} counter drop`);
    case 'icmp_flood':
      return [{ stage: 'early', chain: base, rules: [`${d} ${m.v6 ? 'icmpv6' : 'icmp'} type echo-request${limit} counter drop`] }];
    case 'frag_flood':
      return [{ stage: 'frag', chain: base, rules: [`${d} ${m.v6 ? 'exthdr frag exists' : 'ip frag-off & 0x3fff != 0'}${limit} counter drop`] }];
  }
}

/** An id as an nft comment: printable, no quotes, at most 120 characters. */
const comment = (id: string): string => id.replace(/[^\w.:/@,+=-]/g, '_').slice(0, 120);

interface NftJson {
  nftables: {
    chain?: { name: string; table: string };
    set?: { name: string; table: string; type: string | string[]; size?: number; timeout?: number };
    rule?: { chain: string; handle: number; expr: Record<string, any>[] };
  }[];
}

export class NftMitigation implements MitigationDriver {
  private readonly t: string;
  readonly knownGoodOff = null;

  constructor(
    private readonly table: string,
    private readonly run: ToolRunner,
    private readonly good: KnownGood = null,
  ) {
    this.t = `inet ${table}`;
  }

  private parts(m: Mitigation): NftPart[] {
    return nftParts(m, this.good !== null);
  }

  supported(_kind: MitigationKind, _synproxy: boolean): Support {
    return { ok: true };
  }

  private async nft(args: readonly string[], input = ''): Promise<string> {
    const r = await this.run('nft', args, input);
    if (r.code !== 0) throw toolError('nft', args, r);
    return r.stdout;
  }

  private transaction(lines: readonly string[]): Promise<string> {
    return this.nft(['-f', '-'], `${lines.join('\n')}\n`);
  }

  /** The table without set elements (terse); null when there is no table. */
  private async listTable(): Promise<NftJson | null> {
    const args = ['-t', '-j', 'list', 'table', 'inet', this.table];
    const r = await this.run('nft', args);
    if (r.code !== 0) {
      if (/No such file or directory/.test(r.stderr)) return null;
      throw toolError('nft', args, r);
    }
    return JSON.parse(r.stdout) as NftJson;
  }

  /** Our chains in the table (names starting with `mit_`). */
  private static ours(json: NftJson | null): string[] {
    return (json?.nftables ?? []).flatMap((i) => (i.chain && i.chain.name.startsWith('mit_') ? [i.chain.name] : []));
  }

  /** Our sets in the table (names starting with `mit_`). */
  private static ourSets(json: NftJson | null): NonNullable<NftJson['nftables'][number]['set']>[] {
    return (json?.nftables ?? []).flatMap((i) => (i.set && i.set.name.startsWith('mit_') ? [i.set] : []));
  }

  /** The known-good sets as they should be: name, key type, and the `add set` line. */
  private goodSets(): { name: string; type: string; line: string }[] {
    const g = this.good;
    if (!g) return [];
    return [
      { name: NFT_GOOD_SETS.v4, type: 'ipv4_addr' },
      { name: NFT_GOOD_SETS.v6, type: 'ipv6_addr' },
    ].map((s) => ({ ...s, line: `add set ${this.t} ${s.name} { type ${s.type}; size ${g.size}; flags dynamic,timeout; timeout ${nftDuration(g.timeout)}; }` }));
  }

  private addLines(m: Mitigation): string[] {
    const d = `${m.v6 ? 'ip6' : 'ip'} daddr ${m.victim}`;
    const lines: string[] = [];
    for (const p of this.parts(m)) {
      lines.push(`add chain ${this.t} ${p.chain} { comment "${comment(m.id)}"; }`);
      for (const r of p.rules) lines.push(`add rule ${this.t} ${p.chain} ${r}`);
      // early: before the established accept (insert puts it first in the chain).
      for (const b of BASES[p.stage]) lines.push(`${p.stage === 'early' ? 'insert' : 'add'} rule ${this.t} ${b} ${d} jump ${p.chain}`);
    }
    return lines;
  }

  /** Deletes `m`'s jumps (by handle, read from the base chains now) and its chains. */
  private async removeLines(m: Mitigation): Promise<string[]> {
    const parts = this.parts(m);
    const mine = new Set(parts.map((p) => p.chain));
    const bases = [...new Set(parts.flatMap((p) => BASES[p.stage]))];
    const lines: string[] = [];
    for (const b of bases) {
      const json = JSON.parse(await this.nft(['-j', 'list', 'chain', 'inet', this.table, b])) as NftJson;
      for (const i of json.nftables) {
        const r = i.rule;
        if (r && r.expr.some((x) => mine.has(x.jump?.target))) lines.push(`delete rule ${this.t} ${b} handle ${r.handle}`);
      }
    }
    for (const c of mine) lines.push(`flush chain ${this.t} ${c}`, `delete chain ${this.t} ${c}`);
    return lines;
  }

  private baseLines(): string[] {
    const lines: string[] = [];
    for (const b of BASE_CHAINS) {
      lines.push(`add chain ${this.t} ${b.chain} { type filter hook ${b.hook} priority ${b.prio}; policy accept; }`);
      if (!b.ct) continue;
      // Clients that complete a handshake are learnt (first packets only), before the accept.
      if (this.good) for (const r of nftLearnRules()) lines.push(`add rule ${this.t} ${b.chain} ${r}`);
      // Real clients' connections always pass; everything below sees only unsolicited packets.
      lines.push(`add rule ${this.t} ${b.chain} ct state established,related accept`);
    }
    return lines;
  }

  async init(active: readonly Mitigation[]): Promise<void> {
    const json = await this.listTable();
    const found = NftMitigation.ours(json);
    const lines = [`add table ${this.t}`];
    // Flush all first: a chain can only go once nothing jumps to it.
    for (const c of found) lines.push(`flush chain ${this.t} ${c}`);
    for (const c of found) lines.push(`delete chain ${this.t} ${c}`);
    // Known-good sets are kept with what they learnt (a restart must not forget the clients),
    // unless their settings changed (or they are off): then they go, once no rule uses them.
    const want = this.goodSets();
    for (const s of NftMitigation.ourSets(json)) {
      const w = want.find((x) => x.name === s.name);
      const same = w !== undefined && s.type === w.type && s.size === this.good!.size && s.timeout === this.good!.timeout;
      if (!same) lines.push(`delete set ${this.t} ${s.name}`);
    }
    for (const w of want) lines.push(w.line);
    lines.push(...this.baseLines());
    for (const m of active) lines.push(...this.addLines(m));
    await this.transaction(lines);
  }

  private async checkSynproxy(m: Mitigation): Promise<void> {
    const r = await this.run('sysctl', ['-n', 'net.netfilter.nf_conntrack_tcp_loose']);
    const v = r.code === 0 ? r.stdout.trim() : null;
    if (v !== '0')
      throw new PalisadeError(
        'PAL_ERR_FIREWALL',
        `mitigation ${m.id}: synproxy needs net.netfilter.nf_conntrack_tcp_loose=0 (it is ${v ?? `unreadable: ${r.stderr.trim()}`}): ` +
          'otherwise conntrack takes the handshake\'s last ACK for a new connection and it never reaches synproxy; set it, or mitigate with the rate limit',
      );
  }

  async apply(m: Mitigation, prev: Mitigation | undefined): Promise<void> {
    if (m.synproxy) await this.checkSynproxy(m);
    let lines: string[];
    const now = this.parts(m);
    const before = prev ? this.parts(prev) : [];
    const same = prev !== undefined && prev.victim === m.victim && before.length === now.length && before.every((p, i) => p.chain === now[i]!.chain && p.stage === now[i]!.stage);
    if (same) {
      // Same chains and jumps: refill the chains.
      lines = now.flatMap((p) => [`flush chain ${this.t} ${p.chain}`, ...p.rules.map((r) => `add rule ${this.t} ${p.chain} ${r}`)]);
    } else {
      lines = [...(prev ? await this.removeLines(prev) : []), ...this.addLines(m)];
    }
    await this.transaction(lines);
  }

  async withdraw(m: Mitigation): Promise<void> {
    await this.transaction(await this.removeLines(m));
  }

  async shutdown(): Promise<void> {
    const json = await this.listTable();
    const found = NftMitigation.ours(json);
    const sets = NftMitigation.ourSets(json).map((s) => s.name);
    if (found.length === 0 && sets.length === 0) return;
    await this.transaction([
      ...found.map((c) => `flush chain ${this.t} ${c}`),
      ...found.map((c) => `delete chain ${this.t} ${c}`),
      ...sets.map((s) => `delete set ${this.t} ${s}`),
    ]);
  }

  async counters(active: readonly Mitigation[]): Promise<Record<string, { packets: number; bytes: number }>> {
    const byChain = new Map<string, string>();
    const out: Record<string, { packets: number; bytes: number }> = {};
    for (const m of active) {
      out[m.id] = { packets: 0, bytes: 0 };
      for (const p of this.parts(m)) byChain.set(p.chain, m.id);
    }
    const json = await this.listTable();
    for (const i of json?.nftables ?? []) {
      const id = i.rule ? byChain.get(i.rule.chain) : undefined;
      if (!id) continue;
      for (const x of i.rule!.expr) {
        if (x.counter) {
          out[id]!.packets += x.counter.packets ?? 0;
          out[id]!.bytes += x.counter.bytes ?? 0;
        }
      }
    }
    return out;
  }
}
