// The packet struct: one instance is reused for every packet. Capture fills the header fields,
// decode fills the layer fields, track fills the flow fields. Addresses are 32-bit words, never
// strings; all fields are numbers so the object keeps one hidden class on the hot path. 32-bit
// fields (address words, sequence numbers, TCP timestamps, IPv6 fragment id, ARP addresses) hold
// signed int32 bit patterns, which V8 keeps unboxed: use `x >>> 0` for the unsigned number.

/** Link-layer types (LINKTYPE_* values from the pcap/pcapng specification). */
export const LinkType = {
  NULL: 0,
  ETHERNET: 1,
  RAW: 101,
  LOOP: 108,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

/** Bits of `Packet.flags`: which layers were decoded and what was noticed on the way. */
export const PF = {
  ETH: 1 << 0,
  VLAN: 1 << 1,
  ARP: 1 << 2,
  IPV4: 1 << 3,
  IPV6: 1 << 4,
  TCP: 1 << 5,
  UDP: 1 << 6,
  ICMP4: 1 << 7,
  ICMP6: 1 << 8,
  /** An IP fragment (first or later). */
  FRAG: 1 << 9,
  /** A later fragment: no transport header in this packet. */
  FRAG_LATER: 1 << 10,
  /** The capture's snaplen cut the packet before its end (not a malformation). */
  SNAPPED: 1 << 11,
  /** Decapsulated from an IP-in-IP / 6in4 tunnel. */
  TUNNEL: 1 << 12,
  /** An ICMP error whose embedded header was decoded into the `in*` fields. */
  ICMP_EMBED: 1 << 13,
  /** The transport header is only partly present (first fragment cut short, or snapped). */
  L4_PARTIAL: 1 << 14,
  /** The source address is IPv6 (else IPv4 mapped into the words). */
  V6: 1 << 15,
  /** Rebuilt by defrag/ from IP fragments: `data` is Defrag's buffer, `fragCount` is valid. */
  REASSEMBLED: 1 << 16,
  /**
   * Rebuilt, and its first fragment held only part of the transport header (TCP: under 20 bytes
   * or under the data offset; UDP: under 8): no normal stack sends that (a fragmented probe).
   */
  L4_SPLIT: 1 << 17,
  /** Rebuilt, and some of its fragments overlapped with different data (resolved by policy). */
  FRAG_OVERLAP: 1 << 18,
} as const;

/** Bits of `Packet.flowEv`, set by the track stage. */
export const FE = {
  /** The packet opened its flow. */
  NEW: 1,
  /** The first packet of the reply direction (from the responder). */
  FIRST_REPLY: 2,
  /** The packet ended its TCP flow (an RST, or the second direction's FIN). */
  CLOSED: 4,
} as const;

/** TCP flag bits as in the header's flags byte. */
export const TCP = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20, ECE: 0x40, CWR: 0x80 } as const;

/** Compact codes for the TCP options seen, in order, packed 4 bits each into `tcpOptSig`. */
export const TcpOptCode = { EOL: 1, NOP: 2, MSS: 3, WSCALE: 4, SACK_PERM: 5, SACK: 6, TS: 7, OTHER: 8 } as const;

const EMPTY = new Uint8Array(0);

export class Packet {
  // --- capture: filled by the source ---------------------------------------------------------
  /** Timestamp: whole seconds since the epoch and the nanoseconds within that second. */
  tsSec = 0;
  tsNsec = 0;
  /** Bytes present in `data` from `off`, and the packet's length on the wire. */
  caplen = 0;
  wirelen = 0;
  linktype = 0;
  /** Interface index within the source (pcapng IDB number; 0 otherwise). */
  ifIndex = 0;
  /** The buffer holding the packet's bytes: [off, off + caplen). Valid only during processing. */
  data: Uint8Array = EMPTY;
  off = 0;

  // --- decode ---------------------------------------------------------------------------------
  flags = 0;
  /** Number of decode events raised on this packet, and the id of the first one. */
  evCount = 0;
  ev0 = 0;
  /** Offsets into `data` (absolute), -1 when the layer is absent. */
  l3Off = -1;
  l4Off = -1;
  payOff = -1;
  payLen = 0;
  ethType = 0;
  vlanCount = 0;
  vlanId0 = 0;
  vlanId1 = 0;
  /** Number of IP layers seen (2+ for tunnels). */
  ipLayers = 0;
  ipVer = 0;
  /** The transport protocol number (after IPv6 extension headers). */
  ipProto = 0;
  ttl = 0;
  ipId = 0;
  /** IP total length (IPv4) or 40 + payload length (IPv6), as the header states it. */
  ipLen = 0;
  ipTos = 0;
  /** Fragment offset in bytes and the more-fragments bit. */
  fragOff = 0;
  fragMore = 0;
  /** IPv4 DF bit. */
  ipDf = 0;
  /**
   * IPv6 fragments (PF.FRAG with PF.V6): absolute offsets of the fragment header and of the
   * next-header byte that names it (byte 6 of the IPv6 header or an earlier extension header's
   * first byte); -1 when the packet has no fragment header.
   */
  fragHdrOff = -1;
  fragNhOff = -1;
  /** Number of fragments a reassembled datagram was rebuilt from (valid under PF.REASSEMBLED). */
  fragCount = 0;
  /** Number of IPv4 options or IPv6 extension headers walked. */
  ipOptCount = 0;
  src0 = 0;
  src1 = 0;
  src2 = 0;
  src3 = 0;
  dst0 = 0;
  dst1 = 0;
  dst2 = 0;
  dst3 = 0;
  sport = 0;
  dport = 0;
  tcpFlags = 0;
  tcpSeq = 0;
  tcpAck = 0;
  tcpWin = 0;
  tcpHdrLen = 0;
  tcpUrp = 0;
  tcpOptCount = 0;
  /** Option kinds in order, 4 bits each (TcpOptCode), first option in the low bits; up to 8. */
  tcpOptSig = 0;
  tcpMss = -1;
  tcpWscale = -1;
  tcpSackPerm = 0;
  tcpTsVal = -1;
  tcpTsEcr = -1;
  udpLen = 0;
  icmpType = -1;
  icmpCode = -1;
  icmpId = 0;
  icmpSeq = 0;
  /** ICMP error: the embedded packet's protocol, addresses and ports (PF.ICMP_EMBED). */
  inProto = 0;
  inSport = 0;
  inDport = 0;
  inSrc0 = 0;
  inSrc1 = 0;
  inSrc2 = 0;
  inSrc3 = 0;
  inDst0 = 0;
  inDst1 = 0;
  inDst2 = 0;
  inDst3 = 0;
  arpOp = 0;
  arpSpa = 0;
  arpTpa = 0;

  // --- track ----------------------------------------------------------------------------------
  /** Flow slot in the flow table, -1 when the packet belongs to no tracked flow. */
  flowSlot = -1;
  /** 0 when sent by the flow's initiator (to server), 1 for the reply direction. */
  flowDir = 0;
  /** What this packet did to its flow: FE bits (opened it, first reply, closed it). */
  flowEv = 0;
  /** Packets of the flow in this packet's direction so far, this one included (valid when flowSlot >= 0). */
  flowPkts = 0;

  /**
   * Clears the fields every packet needs cleared. The other layer fields are written by their
   * decoder and are valid only while the layer's PF flag is set (tcp* under PF.TCP, in* under
   * PF.ICMP_EMBED, arp* under PF.ARP, addresses under PF.IPV4 | PF.IPV6).
   */
  resetDecode(): void {
    this.flags = 0;
    this.evCount = 0;
    this.ev0 = 0;
    this.l3Off = -1;
    this.l4Off = -1;
    this.payOff = -1;
    this.payLen = 0;
    this.ethType = 0;
    this.vlanCount = 0;
    this.ipLayers = 0;
    this.ipVer = 0;
    this.ipProto = 0;
    this.sport = 0;
    this.dport = 0;
    this.tcpFlags = 0;
    this.icmpType = -1;
    this.icmpCode = -1;
    this.flowSlot = -1;
    this.flowDir = 0;
    this.flowEv = 0;
    this.flowPkts = 0;
  }
}
