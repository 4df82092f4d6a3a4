// Decoder tests on byte arrays: every protocol decodes its fields, and every malformed case
// (truncated at each layer, IHL < 5, TCP data offset past the end, IPv6 extension-header loops,
// zero-length capture, VLAN stacks too deep, tunnels too deep) raises its named event and never
// throws. Ends with a deterministic fuzz over random and cut-short packets.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LinkType, PF, Packet, TcpOptCode } from '../src/core/packet.js';
import { Decoder } from '../src/decode/decoder.js';
import {
  F,
  arp,
  eth,
  ext8,
  frag6,
  icmp,
  ip4,
  ipv4,
  ipv6,
  linuxSynOptions,
  nullLink,
  rng,
  sll,
  sll2,
  tcp,
  udp,
} from '../tools/craft.js';
import { decodeOne } from './helpers/decode.js';

const E = LinkType.ETHERNET;
const synV4 = () => ipv4({ src: '198.18.0.1', dst: '198.18.0.2', proto: 6 }, tcp({ sport: 40000, dport: 80, flags: F.SYN, options: linuxSynOptions() }));

describe('ethernet, vlan, arp', () => {
  it('decodes an Ethernet IPv4 TCP SYN with options', () => {
    const { p, events, counters } = decodeOne(E, eth(0x0800, synV4()));
    assert.deepEqual(events, []);
    assert.equal(p.flags & (PF.ETH | PF.IPV4 | PF.TCP), PF.ETH | PF.IPV4 | PF.TCP);
    assert.equal(p.src3 >>> 0, ip4('198.18.0.1'));
    assert.equal(p.dst3 >>> 0, ip4('198.18.0.2'));
    assert.equal(p.src2, 0xffff);
    assert.equal(p.sport, 40000);
    assert.equal(p.dport, 80);
    assert.equal(p.tcpFlags, F.SYN);
    assert.equal(p.tcpMss, 1460);
    assert.equal(p.tcpWscale, 7);
    assert.equal(p.tcpSackPerm, 1);
    assert.equal(p.tcpTsVal, 12345);
    assert.equal(p.tcpTsEcr, 0);
    assert.equal(p.tcpOptCount, 5);
    assert.equal(p.tcpOptSig & 0xf, TcpOptCode.MSS);
    assert.equal((p.tcpOptSig >>> 12) & 0xf, TcpOptCode.NOP);
    assert.equal((p.tcpOptSig >>> 16) & 0xf, TcpOptCode.WSCALE);
    assert.equal(counters.tcp_syn, 1);
  });

  it('unwraps 802.1Q and QinQ tags and records the VLAN ids', () => {
    const one = decodeOne(E, eth(0x0800, synV4(), [943]));
    assert.equal(one.p.vlanCount, 1);
    assert.equal(one.p.vlanId0, 943);
    assert.ok(one.p.flags & PF.TCP);
    const two = decodeOne(E, eth(0x86dd, ipv6({ src: '2001:db8::1', dst: '2001:db8::2', nh: 17 }, udp(53, 53)), [100, 200]));
    assert.equal(two.p.vlanCount, 2);
    assert.equal(two.p.vlanId0, 100);
    assert.equal(two.p.vlanId1, 200);
    assert.ok(two.p.flags & PF.UDP);
    assert.equal(two.counters.vlan_qinq, 1);
  });

  it('caps the VLAN stack', () => {
    const r = decodeOne(E, eth(0x0800, synV4(), [1, 2, 3, 4]));
    assert.deepEqual(r.events, ['decoder.vlan.too_many_layers']);
    assert.equal(r.p.flags & PF.IPV4, 0);
  });

  it('decodes ARP', () => {
    const { p, events } = decodeOne(E, eth(0x0806, arp(1, '198.18.0.1', '198.18.0.9')));
    assert.deepEqual(events, []);
    assert.ok(p.flags & PF.ARP);
    assert.equal(p.arpOp, 1);
    assert.equal(p.arpSpa >>> 0, ip4('198.18.0.1'));
    assert.equal(p.arpTpa >>> 0, ip4('198.18.0.9'));
  });

  it('counts non-IP EtherTypes without an event', () => {
    const r = decodeOne(E, eth(0x88cc, Buffer.alloc(40)));
    assert.deepEqual(r.events, []);
    assert.equal(r.counters.unknown_ethertype, 1);
  });
});

describe('other link types', () => {
  it('decodes Linux cooked SLL and SLL2', () => {
    const a = decodeOne(LinkType.LINUX_SLL, sll(0x0800, synV4()));
    assert.ok(a.p.flags & PF.TCP);
    const b = decodeOne(LinkType.LINUX_SLL2, sll2(0x86dd, ipv6({ src: '2001:db8::1', dst: '2001:db8::2', nh: 58 }, icmp(128, 0, 0x00070001))));
    assert.ok(b.p.flags & PF.ICMP6);
    assert.equal(b.p.icmpType, 128);
    assert.equal(b.p.icmpId, 7);
    assert.equal(b.p.icmpSeq, 1);
  });

  it('decodes raw IP and BSD loopback in both byte orders', () => {
    assert.ok(decodeOne(LinkType.RAW, synV4()).p.flags & PF.TCP);
    assert.ok(decodeOne(LinkType.IPV4, synV4()).p.flags & PF.TCP);
    assert.ok(decodeOne(LinkType.NULL, nullLink(2, synV4())).p.flags & PF.TCP);
    const v6 = ipv6({ src: '::1', dst: '::1', nh: 17 }, udp(1, 2));
    for (const af of [10, 24, 28, 30]) assert.ok(decodeOne(LinkType.NULL, nullLink(af, v6)).p.flags & PF.UDP, `AF ${af}`);
    assert.ok(decodeOne(LinkType.LOOP, nullLink(2, synV4(), true)).p.flags & PF.TCP);
    assert.ok(decodeOne(LinkType.NULL, nullLink(2, synV4(), true)).p.flags & PF.TCP, 'big-endian writer');
  });

  it('raises an event for an unsupported link type', () => {
    assert.deepEqual(decodeOne(147, synV4()).events, ['decoder.link.unsupported']);
  });
});

describe('ipv4', () => {
  it('walks options and flags fragments', () => {
    const opts = Buffer.from([1, 1, 7, 7, 4, 0, 0, 0, 0]); // NOP NOP record-route(7), then EOL padding
    const r = decodeOne(E, eth(0x0800, ipv4({ src: '10.0.0.1', dst: '10.0.0.2', proto: 17, options: opts }, udp(1000, 53))));
    assert.deepEqual(r.events, []);
    assert.equal(r.p.ipOptCount, 3);
    const first = decodeOne(E, eth(0x0800, ipv4({ src: '10.0.0.1', dst: '10.0.0.2', proto: 6, mf: true }, tcp({ sport: 1, dport: 80, flags: F.ACK }).subarray(0, 8))));
    assert.deepEqual(first.events, [], 'a first fragment may end inside the TCP header');
    assert.ok(first.p.flags & PF.FRAG);
    assert.equal(first.p.flags & PF.FRAG_LATER, 0);
    assert.equal(first.p.dport, 80);
    const later = decodeOne(E, eth(0x0800, ipv4({ src: '10.0.0.1', dst: '10.0.0.2', proto: 6, fragOff: 8 }, Buffer.alloc(12))));
    assert.deepEqual(later.events, []);
    assert.ok(later.p.flags & PF.FRAG_LATER);
    assert.equal(later.p.flags & PF.TCP, 0, 'no transport header in a later fragment');
    assert.equal(later.counters.tcp, 1, 'counted as TCP, as tcpdump does');
    assert.equal(later.counters.ipv4_frag, 1);
  });

  it('trims Ethernet padding and keeps the payload length from the IP header', () => {
    const pkt = Buffer.concat([eth(0x0800, ipv4({ src: '10.0.0.1', dst: '10.0.0.2', proto: 6 }, tcp({ sport: 1, dport: 2, flags: F.RST | F.ACK }))), Buffer.alloc(6)]);
    const r = decodeOne(E, pkt);
    assert.deepEqual(r.events, []);
    assert.equal(r.p.payLen, 0);
  });

  const bad: [string, () => Buffer, string][] = [
    ['truncated before the IPv4 header', () => eth(0x0800, Buffer.alloc(10)), 'decoder.ipv4.pkt_too_small'],
    ['wrong version', () => eth(0x0800, ipv4({ src: 1, dst: 2, proto: 6, version: 5 }, Buffer.alloc(20))), 'decoder.ipv4.wrong_ip_version'],
    ['IHL < 5', () => eth(0x0800, ipv4({ src: 1, dst: 2, proto: 6, ihl: 4 }, Buffer.alloc(20))), 'decoder.ipv4.hlen_too_small'],
    ['IHL past the end', () => eth(0x0800, ipv4({ src: 1, dst: 2, proto: 6, ihl: 15 }, Buffer.alloc(4))), 'decoder.ipv4.trunc_header'],
    ['total length < header', () => eth(0x0800, ipv4({ src: 1, dst: 2, proto: 6, totalLength: 12 }, Buffer.alloc(20))), 'decoder.ipv4.iplen_smaller_than_hlen'],
    ['total length past the end', () => eth(0x0800, ipv4({ src: 1, dst: 2, proto: 6, totalLength: 400 }, tcp({ sport: 1, dport: 2, flags: F.SYN }))), 'decoder.ipv4.trunc_pkt'],
    ['option length past the header', () => eth(0x0800, ipv4({ src: 1, dst: 2, proto: 17, options: Buffer.from([7, 40, 4, 0]) }, udp(1, 2))), 'decoder.ipv4.opt_invalid_len'],
    ['option length zero', () => eth(0x0800, ipv4({ src: 1, dst: 2, proto: 17, options: Buffer.from([7, 0, 0, 0]) }, udp(1, 2))), 'decoder.ipv4.opt_invalid_len'],
    ['fragment past 65535', () => eth(0x0800, ipv4({ src: 1, dst: 2, proto: 17, fragOff: 65528 }, Buffer.alloc(16))), 'decoder.ipv4.frag_pkt_too_large'],
    ['truncated Ethernet header', () => Buffer.alloc(13), 'decoder.ethernet.pkt_too_small'],
    ['truncated VLAN tag', () => Buffer.concat([eth(0x8100, Buffer.alloc(0)), Buffer.alloc(2)]), 'decoder.vlan.header_too_small'],
    ['truncated ARP', () => eth(0x0806, Buffer.alloc(6)), 'decoder.arp.pkt_too_small'],
    ['truncated SLL', () => Buffer.alloc(15), 'decoder.sll.pkt_too_small'],
  ];
  for (const [name, make, ev] of bad) {
    it(`raises ${ev} for ${name}`, () => {
      const lt = name === 'truncated SLL' ? LinkType.LINUX_SLL : E;
      const r = decodeOne(lt, make());
      assert.ok(r.events.includes(ev), `events: ${r.events.join(', ')}`);
      assert.ok(r.counters.invalid === 1);
    });
  }

  it('treats a packet cut by the snaplen as snapped, not malformed', () => {
    const full = eth(0x0800, ipv4({ src: 1, dst: 2, proto: 6 }, tcp({ sport: 1, dport: 2, flags: F.ACK }, Buffer.alloc(1000))));
    const r = decodeOne(E, full.subarray(0, 96), full.length);
    assert.deepEqual(r.events, []);
    assert.ok(r.p.flags & PF.SNAPPED);
    assert.ok(r.p.flags & PF.TCP);
    assert.equal(r.p.payLen, 1000);
    const headerCut = decodeOne(E, full.subarray(0, 40), full.length);
    assert.deepEqual(headerCut.events, []);
    assert.ok(headerCut.p.flags & PF.SNAPPED);
    assert.ok(headerCut.p.flags & PF.L4_PARTIAL);
    assert.equal(headerCut.p.dport, 2);
  });

  it('decapsulates IP-in-IP and caps tunnel depth', () => {
    const inner = synV4();
    const one = decodeOne(E, eth(0x0800, ipv4({ src: '10.9.9.9', dst: '10.8.8.8', proto: 4 }, inner)));
    assert.deepEqual(one.events, []);
    assert.ok(one.p.flags & PF.TUNNEL);
    assert.equal(one.p.src3 >>> 0, ip4('198.18.0.1'), 'addresses are the innermost');
    assert.equal(one.counters.ipv4_in_ipv4, 1);
    const six = decodeOne(E, eth(0x0800, ipv4({ src: 1, dst: 2, proto: 41 }, ipv6({ src: '2001:db8::1', dst: '2001:db8::2', nh: 6 }, tcp({ sport: 5, dport: 6, flags: F.SYN })))));
    assert.ok(six.p.flags & PF.V6);
    assert.equal(six.counters.ipv6_in_ipv4, 1);
    let deep: Buffer = inner;
    for (let i = 0; i < 6; i++) deep = ipv4({ src: 1, dst: 2, proto: 4 }, deep);
    assert.deepEqual(decodeOne(E, eth(0x0800, deep)).events, ['decoder.ip.too_many_layers']);
  });
});

describe('ipv6', () => {
  const S = '2001:db8::1';
  const D = '2001:db8::2';

  it('decodes addresses and walks extension headers to the transport', () => {
    const r = decodeOne(E, eth(0x86dd, ipv6({ src: S, dst: D, nh: 6, ext: [ext8(0), ext8(60, 1)] }, tcp({ sport: 1, dport: 443, flags: F.SYN }))));
    assert.deepEqual(r.events, []);
    assert.ok(r.p.flags & PF.TCP);
    assert.equal(r.p.ipOptCount, 2);
    assert.equal(r.p.ipProto, 6);
    assert.equal(r.p.src0, 0x20010db8);
    assert.equal(r.p.src3, 1);
    assert.equal(r.p.dport, 443);
  });

  it('flags fragments', () => {
    const first = decodeOne(E, eth(0x86dd, ipv6({ src: S, dst: D, nh: 17, ext: [frag6(0, true)] }, udp(1, 2, Buffer.alloc(16)))));
    assert.deepEqual(first.events, []);
    assert.ok(first.p.flags & PF.FRAG);
    assert.ok(first.p.flags & PF.UDP);
    const later = decodeOne(E, eth(0x86dd, ipv6({ src: S, dst: D, nh: 17, ext: [frag6(64, false)] }, Buffer.alloc(16))));
    assert.ok(later.p.flags & PF.FRAG_LATER);
    assert.equal(later.p.flags & PF.UDP, 0);
  });

  it('stops an extension-header loop at the cap', () => {
    const chain = Array.from({ length: 40 }, () => ext8(60));
    const r = decodeOne(E, eth(0x86dd, ipv6({ src: S, dst: D, nh: 6, ext: chain }, tcp({ sport: 1, dport: 2, flags: F.SYN }))));
    assert.ok(r.events.includes('decoder.ipv6.exthdr_too_many'), r.events.join());
    const hbh = Array.from({ length: 3 }, () => ext8(0));
    assert.ok(decodeOne(E, eth(0x86dd, ipv6({ src: S, dst: D, nh: 17, ext: hbh }, udp(1, 2)))).events.includes('decoder.ipv6.exthdr_dupl_hh'));
    const frags = [frag6(0, true), frag6(0, true)];
    assert.ok(decodeOne(E, eth(0x86dd, ipv6({ src: S, dst: D, nh: 17, ext: frags }, udp(1, 2)))).events.includes('decoder.ipv6.exthdr_dupl_fh'));
  });

  it('flags routing header type 0', () => {
    const rh0 = { type: 43, body: Buffer.from([0, 0, 0, 0, 0, 0]) };
    assert.ok(decodeOne(E, eth(0x86dd, ipv6({ src: S, dst: D, nh: 17, ext: [rh0] }, udp(1, 2)))).events.includes('decoder.ipv6.rh_type_0'));
  });

  const bad: [string, () => Buffer, string][] = [
    ['a short IPv6 header', () => eth(0x86dd, Buffer.alloc(30)), 'decoder.ipv6.pkt_too_small'],
    ['a wrong version', () => eth(0x86dd, Buffer.from(ipv6({ src: S, dst: D, nh: 17 }, udp(1, 2)).map((x, i) => (i === 0 ? 0x40 : x)))), 'decoder.ipv6.wrong_ip_version'],
    ['payload length past the end', () => eth(0x86dd, ipv6({ src: S, dst: D, nh: 17, payloadLength: 300 }, udp(1, 2))), 'decoder.ipv6.trunc_pkt'],
    [
      'an extension header past the end',
      () => {
        const f = eth(0x86dd, ipv6({ src: S, dst: D, nh: 17, ext: [ext8(60)] }, udp(1, 2)));
        f[14 + 40 + 1] = 3; // the destination-options header now claims 32 bytes
        return f;
      },
      'decoder.ipv6.trunc_exthdr',
    ],
  ];
  for (const [name, make, ev] of bad) {
    it(`raises ${ev} for ${name}`, () => {
      const r = decodeOne(E, make());
      assert.ok(r.events.includes(ev), `events: ${r.events.join(', ')}`);
    });
  }
});

describe('tcp, udp, icmp', () => {
  it('raises TCP events: short header, data offset < 5, data offset past the end, bad options', () => {
    const short = ipv4({ src: 1, dst: 2, proto: 6 }, Buffer.alloc(12));
    assert.deepEqual(decodeOne(E, eth(0x0800, short)).events, ['decoder.tcp.pkt_too_small']);
    const doff4 = ipv4({ src: 1, dst: 2, proto: 6 }, tcp({ sport: 1, dport: 2, flags: F.SYN, dataOffset: 16 }));
    assert.deepEqual(decodeOne(E, eth(0x0800, doff4)).events, ['decoder.tcp.hlen_too_small']);
    const past = ipv4({ src: 1, dst: 2, proto: 6 }, tcp({ sport: 1, dport: 2, flags: F.SYN, dataOffset: 60 }));
    assert.deepEqual(decodeOne(E, eth(0x0800, past)).events, ['decoder.tcp.trunc_header']);
    const badOpt = ipv4({ src: 1, dst: 2, proto: 6 }, tcp({ sport: 1, dport: 2, flags: F.SYN, options: Buffer.from([2, 9, 5, 180]) }));
    assert.deepEqual(decodeOne(E, eth(0x0800, badOpt)).events, ['decoder.tcp.opt_invalid_len']);
    const mssLen = ipv4({ src: 1, dst: 2, proto: 6 }, tcp({ sport: 1, dport: 2, flags: F.SYN, options: Buffer.from([2, 3, 5, 1]) }));
    assert.deepEqual(decodeOne(E, eth(0x0800, mssLen)).events, ['decoder.tcp.opt_invalid_len']);
  });

  it('raises UDP events', () => {
    assert.deepEqual(decodeOne(E, eth(0x0800, ipv4({ src: 1, dst: 2, proto: 17 }, Buffer.alloc(5)))).events, ['decoder.udp.pkt_too_small']);
    assert.deepEqual(decodeOne(E, eth(0x0800, ipv4({ src: 1, dst: 2, proto: 17 }, udp(1, 2, Buffer.alloc(4), 4)))).events, ['decoder.udp.hlen_invalid']);
    assert.deepEqual(decodeOne(E, eth(0x0800, ipv4({ src: 1, dst: 2, proto: 17 }, udp(1, 2, Buffer.alloc(4), 40)))).events, ['decoder.udp.hlen_invalid']);
    const ok = decodeOne(E, eth(0x0800, ipv4({ src: 1, dst: 2, proto: 17 }, udp(5353, 53, Buffer.from('hello')))));
    assert.deepEqual(ok.events, []);
    assert.equal(ok.p.payLen, 5);
    assert.equal(ok.p.udpLen, 13);
  });

  it('decodes ICMP echo and the embedded header of an unreachable', () => {
    const echo = decodeOne(E, eth(0x0800, ipv4({ src: 1, dst: 2, proto: 1 }, icmp(8, 0, 0x12340005))));
    assert.equal(echo.p.icmpType, 8);
    assert.equal(echo.p.icmpId, 0x1234);
    assert.equal(echo.p.icmpSeq, 5);
    const probe = ipv4({ src: '198.18.0.1', dst: '198.18.0.2', proto: 17 }, udp(40000, 161));
    const unreach = decodeOne(E, eth(0x0800, ipv4({ src: '198.18.0.2', dst: '198.18.0.1', proto: 1 }, icmp(3, 3, 0, probe))));
    assert.deepEqual(unreach.events, []);
    assert.ok(unreach.p.flags & PF.ICMP_EMBED);
    assert.equal(unreach.p.inProto, 17);
    assert.equal(unreach.p.inSport, 40000);
    assert.equal(unreach.p.inDport, 161);
    assert.equal(unreach.p.inDst3 >>> 0, ip4('198.18.0.2'));
    const v6probe = ipv6({ src: '2001:db8::1', dst: '2001:db8::2', nh: 6 }, tcp({ sport: 1234, dport: 22, flags: F.SYN }));
    const u6 = decodeOne(E, eth(0x86dd, ipv6({ src: '2001:db8::2', dst: '2001:db8::1', nh: 58 }, icmp(1, 4, 0, v6probe))));
    assert.deepEqual(u6.events, []);
    assert.equal(u6.p.inDport, 22);
    assert.equal(u6.p.inDst3, 2);
  });

  it('raises ICMP events', () => {
    assert.deepEqual(decodeOne(E, eth(0x0800, ipv4({ src: 1, dst: 2, proto: 1 }, Buffer.alloc(4)))).events, ['decoder.icmpv4.pkt_too_small']);
    assert.deepEqual(decodeOne(E, eth(0x0800, ipv4({ src: 1, dst: 2, proto: 1 }, icmp(3, 3, 0, Buffer.alloc(12))))).events, ['decoder.icmpv4.embedded_invalid']);
    assert.deepEqual(decodeOne(E, eth(0x86dd, ipv6({ src: '::1', dst: '::2', nh: 58 }, Buffer.alloc(3)))).events, ['decoder.icmpv6.pkt_too_small']);
    assert.deepEqual(decodeOne(E, eth(0x86dd, ipv6({ src: '::1', dst: '::2', nh: 58 }, icmp(1, 4, 0, Buffer.alloc(20))))).events, ['decoder.icmpv6.embedded_invalid']);
  });

  it('raises decoder.pkt.zero_len for a zero-length capture', () => {
    assert.deepEqual(decodeOne(E, Buffer.alloc(0), 60).events, ['decoder.pkt.zero_len']);
  });
});

describe('truncation at every layer', () => {
  const samples: [string, number, Buffer][] = [
    ['eth/ipv4/tcp+options', E, eth(0x0800, synV4(), [7])],
    ['eth/ipv6/ext/udp', E, eth(0x86dd, ipv6({ src: '2001:db8::1', dst: '2001:db8::2', nh: 17, ext: [ext8(0), frag6(0, true)] }, udp(1, 2, Buffer.alloc(8))))],
    ['sll2/ipv4/icmp unreachable', LinkType.LINUX_SLL2, sll2(0x0800, ipv4({ src: 1, dst: 2, proto: 1 }, icmp(3, 1, 0, ipv4({ src: 2, dst: 1, proto: 6 }, tcp({ sport: 1, dport: 2, flags: F.SYN })))))],
    ['eth/arp', E, eth(0x0806, arp(2, '10.0.0.1', '10.0.0.2'))],
  ];
  for (const [name, lt, pkt] of samples) {
    it(`never throws and never reads past the capture: ${name}`, () => {
      for (let cut = 0; cut < pkt.length; cut++) {
        // Once as a malformed packet (wire = captured), once as a snaplen cut.
        for (const wire of [cut, pkt.length]) {
          const r = decodeOne(lt, pkt.subarray(0, cut), wire);
          if (wire === pkt.length && cut > 0) assert.equal(r.p.evCount, 0, `snaplen cut at ${cut} raised ${r.events.join()}`);
          if (wire === cut) assert.ok(r.p.evCount > 0 || cut === pkt.length, `cut at ${cut} raised nothing`);
        }
      }
    });
  }
});

describe('fuzz', () => {
  it('decodes 200k random and mutated packets without throwing', () => {
    const r = rng(1234);
    const d = new Decoder();
    const p = new Packet();
    const seeds = [
      eth(0x0800, synV4()),
      eth(0x86dd, ipv6({ src: '2001:db8::1', dst: '2001:db8::2', nh: 6, ext: [ext8(0), ext8(43)] }, tcp({ sport: 1, dport: 2, flags: F.SYN }))),
      eth(0x0800, ipv4({ src: 1, dst: 2, proto: 1 }, icmp(3, 3, 0, ipv4({ src: 2, dst: 1, proto: 17 }, udp(1, 2))))),
      eth(0x0800, ipv4({ src: 1, dst: 2, proto: 4 }, synV4()), [5, 6]),
    ];
    const lts = [E, LinkType.LINUX_SLL, LinkType.LINUX_SLL2, LinkType.RAW, LinkType.NULL, LinkType.LOOP, LinkType.IPV6];
    for (let i = 0; i < 200_000; i++) {
      let pkt: Buffer;
      if (i % 4 === 0) {
        pkt = Buffer.alloc(Math.floor(r() * 120));
        for (let j = 0; j < pkt.length; j++) pkt[j] = Math.floor(r() * 256);
      } else {
        pkt = Buffer.from(seeds[i % seeds.length]!);
        for (let m = Math.floor(r() * 4); m >= 0; m--) pkt[Math.floor(r() * pkt.length)] = Math.floor(r() * 256);
        pkt = pkt.subarray(0, Math.floor(r() * (pkt.length + 1)));
      }
      // At the very end of its buffer: any read past the capture yields undefined.
      p.data = pkt;
      p.off = 0;
      p.caplen = pkt.length;
      p.wirelen = pkt.length + (r() < 0.3 ? Math.floor(r() * 100) : 0);
      p.linktype = i % 3 === 0 ? lts[Math.floor(r() * lts.length)]! : E;
      d.decode(p);
      for (const k of ['sport', 'dport', 'src3', 'dst3', 'tcpFlags', 'ipProto', 'payLen'] as const) {
        assert.ok(Number.isFinite(p[k]), `${k} is ${p[k]} after packet ${i}`);
      }
    }
    assert.equal(d.stats.counters.get('pkts'), 200_000);
  });
});
