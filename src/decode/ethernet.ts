// Ethernet II and 802.1Q / 802.1ad (QinQ) VLAN tags, then dispatch on the EtherType. The VLAN
// stack is capped at MAX_VLAN_LAYERS (decoder.vlan.too_many_layers beyond that).

import { PF, type Packet } from '../core/packet.js';
import { decodeArp } from './arp.js';
import { u16 } from './bytes.js';
import { EV } from './events.js';
import { decodeIPv4 } from './ipv4.js';
import { decodeIPv6 } from './ipv6.js';
import { C_ARP, C_ETHERNET, C_IPV4, C_IPV6, C_UNKNOWN_ETHERTYPE, C_VLAN, C_VLAN_QINQ, raise, truncated, type DecodeStats } from './stats.js';

export const MAX_VLAN_LAYERS = 3;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100;
const ETHERTYPE_QINQ = 0x88a8;
const ETHERTYPE_QINQ_OLD = 0x9100;

export function decodeEthernet(s: DecodeStats, p: Packet, b: Uint8Array, off: number, end: number): void {
  if (end - off < 14) {
    truncated(s, p, 14 - (end - off), EV.ETH_PKT_TOO_SMALL);
    return;
  }
  s.c[C_ETHERNET]++;
  p.flags |= PF.ETH;
  decodeEtherType(s, p, b, off + 14, end, u16(b, off + 12));
}

/** Decodes the payload of an EtherType (also used by SLL/SLL2), unwrapping VLAN tags first. */
export function decodeEtherType(s: DecodeStats, p: Packet, b: Uint8Array, off: number, end: number, type: number): void {
  if (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ || type === ETHERTYPE_QINQ_OLD) {
    do {
      if (p.vlanCount === MAX_VLAN_LAYERS) {
        raise(s, p, EV.VLAN_TOO_MANY_LAYERS);
        return;
      }
      if (end - off < 4) {
        truncated(s, p, 4 - (end - off), EV.VLAN_HEADER_TOO_SMALL);
        return;
      }
      const vid = u16(b, off) & 0x0fff;
      if (p.vlanCount === 0) p.vlanId0 = vid;
      else if (p.vlanCount === 1) p.vlanId1 = vid;
      p.vlanCount++;
      type = u16(b, off + 2);
      off += 4;
    } while (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ || type === ETHERTYPE_QINQ_OLD);
    p.flags |= PF.VLAN;
    s.c[C_VLAN]++;
    if (p.vlanCount > 1) s.c[C_VLAN_QINQ]++;
  }
  p.ethType = type;
  if (type === ETHERTYPE_IPV4) {
    s.c[C_IPV4]++;
    decodeIPv4(s, p, b, off, end, 0);
  } else if (type === ETHERTYPE_IPV6) {
    s.c[C_IPV6]++;
    decodeIPv6(s, p, b, off, end, 0);
  } else if (type === ETHERTYPE_ARP) {
    s.c[C_ARP]++;
    decodeArp(s, p, b, off, end);
  } else {
    s.c[C_UNKNOWN_ETHERTYPE]++;
  }
}
