// Overlap policies for IP reassembly (Suricata's defrag policies, from Novak and Sturges'
// "Target-Based Fragmentation Reassembly") and the per-destination policy table: the policy of
// the longest configured prefix holding the datagram's destination, else the default.

import { Cidr } from '../core/addr.js';

/** The policies, named as in Suricata's `host-os-policy` and `defrag` settings. */
export const DEFRAG_POLICIES = ['bsd', 'linux', 'windows', 'solaris', 'first', 'last'] as const;
export type DefragPolicy = (typeof DEFRAG_POLICIES)[number];

/** Policy codes kept per tracker (Suricata's `enum defrag_policies` values). */
export const POL = { FIRST: 1, LAST: 2, BSD: 3, LINUX: 5, WINDOWS: 6, SOLARIS: 7 } as const;

export function policyCode(name: DefragPolicy): number {
  switch (name) {
    case 'bsd':
      return POL.BSD;
    case 'linux':
      return POL.LINUX;
    case 'windows':
      return POL.WINDOWS;
    case 'solaris':
      return POL.SOLARIS;
    case 'first':
      return POL.FIRST;
    case 'last':
      return POL.LAST;
    default:
      throw new RangeError(`unknown defrag policy: ${String(name)} (one of ${DEFRAG_POLICIES.join(', ')})`);
  }
}

export function policyName(code: number): DefragPolicy {
  const i = [POL.BSD, POL.LINUX, POL.WINDOWS, POL.SOLARIS, POL.FIRST, POL.LAST].indexOf(code as 1);
  if (i < 0) throw new RangeError(`unknown defrag policy code: ${code}`);
  return DEFRAG_POLICIES[i]!;
}

/** Destination prefixes to policies, longest prefix first; looked up once per new datagram. */
export class PolicyTable {
  private readonly cidrs: Cidr[] = [];
  private readonly codes: number[] = [];

  constructor(
    readonly fallback: number,
    entries: readonly { cidr: string; policy: DefragPolicy }[],
  ) {
    const parsed = entries.map((e) => {
      const c = Cidr.parse(e.cidr);
      if (!c) throw new RangeError(`invalid defrag policy CIDR: ${e.cidr}`);
      return { c, code: policyCode(e.policy) };
    });
    parsed.sort((a, b) => b.c.bits - a.c.bits);
    for (const e of parsed) {
      this.cidrs.push(e.c);
      this.codes.push(e.code);
    }
  }

  /** The policy code for a destination given as four address words (IPv4 mapped). */
  lookup(w0: number, w1: number, w2: number, w3: number): number {
    for (let i = 0; i < this.cidrs.length; i++) if (this.cidrs[i]!.contains(w0, w1, w2, w3)) return this.codes[i]!;
    return this.fallback;
  }
}
