// Decoder counters: packets and bytes, one counter per protocol layer, one per decode event.
// Handles are module constants, so the hot path does `s.c[C_TCP]++`.

import { CounterSet } from '../core/counters.js';
import { PF, type Packet } from '../core/packet.js';
import { DECODE_EVENT_NAMES } from './events.js';

export const DECODE_COUNTER_NAMES = [
  'pkts',
  'bytes',
  'invalid',
  'ethernet',
  'vlan',
  'vlan_qinq',
  'sll',
  'sll2',
  'null',
  'raw',
  'arp',
  'ipv4',
  'ipv6',
  'tcp',
  'tcp_syn',
  'udp',
  'icmpv4',
  'icmpv6',
  'ipv4_frag',
  'ipv6_frag',
  'ipv4_in_ipv4',
  'ipv6_in_ipv4',
  'ipv4_in_ipv6',
  'ipv6_in_ipv6',
  'unknown_ethertype',
  'other_ipproto',
  'snapped',
] as const;

const at = (n: (typeof DECODE_COUNTER_NAMES)[number]): number => DECODE_COUNTER_NAMES.indexOf(n);
export const C_PKTS = at('pkts');
export const C_BYTES = at('bytes');
export const C_INVALID = at('invalid');
export const C_ETHERNET = at('ethernet');
export const C_VLAN = at('vlan');
export const C_VLAN_QINQ = at('vlan_qinq');
export const C_SLL = at('sll');
export const C_SLL2 = at('sll2');
export const C_NULL = at('null');
export const C_RAW = at('raw');
export const C_ARP = at('arp');
export const C_IPV4 = at('ipv4');
export const C_IPV6 = at('ipv6');
export const C_TCP = at('tcp');
export const C_TCP_SYN = at('tcp_syn');
export const C_UDP = at('udp');
export const C_ICMPV4 = at('icmpv4');
export const C_ICMPV6 = at('icmpv6');
export const C_IPV4_FRAG = at('ipv4_frag');
export const C_IPV6_FRAG = at('ipv6_frag');
export const C_IPV4_IN_IPV4 = at('ipv4_in_ipv4');
export const C_IPV6_IN_IPV4 = at('ipv6_in_ipv4');
export const C_IPV4_IN_IPV6 = at('ipv4_in_ipv6');
export const C_IPV6_IN_IPV6 = at('ipv6_in_ipv6');
export const C_UNKNOWN_ETHERTYPE = at('unknown_ethertype');
export const C_OTHER_IPPROTO = at('other_ipproto');
export const C_SNAPPED = at('snapped');

export class DecodeStats {
  readonly counters = new CounterSet(DECODE_COUNTER_NAMES);
  readonly events: CounterSet;
  /** Direct views for the hot path. */
  readonly c = this.counters.v;
  readonly ev: Float64Array;

  /**
   * `events`: share another instance's event counters (IP reassembly re-decodes rebuilt datagrams
   * with scratch packet counters, and the events they raise count with the main decoder's).
   */
  constructor(events?: CounterSet) {
    if (events && events.names !== DECODE_EVENT_NAMES) throw new TypeError('DecodeStats: events must be a DECODE_EVENT_NAMES set');
    this.events = events ?? new CounterSet(DECODE_EVENT_NAMES);
    this.ev = this.events.v;
  }

  reset(): void {
    this.counters.reset();
    this.events.reset();
  }

  /** Events that occurred, by full name. */
  eventCounts(): Record<string, number> {
    return this.events.toFlat(true);
  }
}

/** Marks a packet cut short by the capture's snaplen (counted once). */
export function markSnapped(s: DecodeStats, p: Packet): void {
  if ((p.flags & PF.SNAPPED) === 0) {
    p.flags |= PF.SNAPPED;
    s.c[C_SNAPPED]++;
  }
}

/**
 * A layer is `shortBy` bytes short of its header: a snaplen cut when the wire had those bytes
 * (the packet is marked snapped), a malformation otherwise (event `id`).
 */
export function truncated(s: DecodeStats, p: Packet, shortBy: number, id: number): void {
  if (shortBy <= p.wirelen - p.caplen) markSnapped(s, p);
  else raise(s, p, id);
}

/**
 * A transport header shorter than its fixed part (`avail` bytes present, `l4Len` claimed by the IP
 * header): the packet is partial, and the short header is either the first fragment of a longer
 * datagram (the rest follows), a snaplen cut, or a malformation (event `id`).
 */
export function l4Short(s: DecodeStats, p: Packet, avail: number, l4Len: number, id: number): void {
  p.flags |= PF.L4_PARTIAL;
  if ((p.flags & PF.FRAG) !== 0) return;
  if (l4Len > avail) markSnapped(s, p);
  else raise(s, p, id);
}

/** Raises decode event `id` on the packet and counts it. */
export function raise(s: DecodeStats, p: Packet, id: number): void {
  if (p.evCount++ === 0) p.ev0 = id;
  s.ev[id]++;
}
