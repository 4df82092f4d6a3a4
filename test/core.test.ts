// Core structure tests: address parsing and formatting, CIDR matching, the KeyTable against a
// Map model under random operations, and the flow table (direction, closing, expiry, eviction).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Cidr, CidrSet, IpAddr } from '../src/core/addr.js';
import { PacketClock } from '../src/core/clock.js';
import { KeyTable } from '../src/core/key-table.js';
import { FE, LinkType } from '../src/core/packet.js';
import { FS, FlowTable } from '../src/flow/flow-table.js';
import { parseRouteV4, parseRouteV6 } from '../src/capture/interfaces.js';
import { F, eth, icmp, ipv4, ipv6, rng, tcp, udp } from '../tools/craft.js';
import { decodeOne } from './helpers/decode.js';

describe('addresses', () => {
  it('parses and formats IPv4 and IPv6 (RFC 5952)', () => {
    const cases: [string, string][] = [
      ['192.0.2.1', '192.0.2.1'],
      ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
      ['2001:db8::', '2001:db8::'],
      ['::', '::'],
      ['::1', '::1'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
      ['::ffff:198.18.0.1', '::ffff:198.18.0.1'],
      ['fe80::1:2', 'fe80::1:2'],
    ];
    for (const [text, canon] of cases) assert.equal(IpAddr.parse(text)?.toString(), canon, text);
    for (const bad of ['1.2.3', '1.2.3.256', '01.2.3.4', '1::2::3', '12345::', 'x', '1:2:3:4:5:6:7:8:9', '']) assert.equal(IpAddr.parse(bad), null, bad);
  });

  it('matches CIDRs in both families', () => {
    const set = CidrSet.parse(['10.0.0.0/8', '2001:db8::/32', '198.18.0.1', '0.0.0.0/0']);
    const a = IpAddr.parse('10.200.1.1')!;
    assert.equal(set.match(a.w0, a.w1, a.w2, a.w3)?.toString(), '10.0.0.0/8');
    const b = IpAddr.parse('2001:db8:ffff::1')!;
    assert.equal(set.match(b.w0, b.w1, b.w2, b.w3)?.toString(), '2001:db8::/32');
    const c = IpAddr.parse('2001:db9::1')!;
    assert.equal(set.match(c.w0, c.w1, c.w2, c.w3), null, '0.0.0.0/0 covers IPv4 only');
    assert.equal(Cidr.parse('10.0.0.0/33'), null);
    assert.equal(Cidr.parse('::/129'), null);
    assert.equal(Cidr.parse('1.2.3.4/x'), null);
    assert.equal(Cidr.parse('198.18.0.1')?.prefix, 32);
  });
});

describe('KeyTable', () => {
  it('agrees with a Map under random inserts, deletes, expiry and eviction', () => {
    const clock = { now: 0 };
    const cap = 64;
    const t = new KeyTable(2, cap, clock, 1);
    const model = new Map<string, { slot: number; last: number; v: number }>();
    const r = rng(99);
    for (let i = 0; i < 50_000; i++) {
      clock.now = i;
      const a = Math.floor(r() * 200);
      const key = `${a}`;
      t.key[0] = a;
      t.key[1] = -a;
      const op = r();
      if (op < 0.7) {
        const s = t.get();
        const m = model.get(key);
        if (m) {
          assert.equal(t.isNew, false);
          assert.equal(s, m.slot);
          assert.equal(t.vals[t.valBase(s)], m.v);
          m.last = i;
        } else {
          assert.equal(t.isNew, true);
          if (model.size === cap) {
            // The least recently used key is the one evicted.
            let oldest: string | null = null;
            for (const [k, v] of model) if (oldest === null || v.last < model.get(oldest)!.last) oldest = k;
            model.delete(oldest!);
          }
          t.vals[t.valBase(s)] = i;
          model.set(key, { slot: s, last: i, v: i });
        }
      } else if (op < 0.85) {
        const s = t.find();
        assert.equal(s, model.get(key)?.slot ?? -1);
        if (s >= 0 && r() < 0.5) {
          t.delete(s);
          model.delete(key);
        }
      } else if (op < 0.86) {
        const cutoff = i - 30;
        t.expire(cutoff);
        for (const [k, v] of model) if (v.last < cutoff) model.delete(k);
      }
      assert.equal(t.size, model.size);
    }
    const order: number[] = [];
    t.forEach((s) => order.push(t.lastSeen(s)));
    assert.deepEqual(order, [...order].sort((x, y) => y - x), 'forEach goes from most to least recent');
  });
});

describe('flow table', () => {
  const clock = new PacketClock();
  const flows = () => new FlowTable({ timeout: 60, closedTimeout: 2, maxFlows: 1024 }, clock);
  const at = (sec: number) => clock.advance(sec, 0);
  const pkt = (data: Buffer) => decodeOne(LinkType.ETHERNET, data).p;
  const c2s = (flags: number, len = 0) => pkt(eth(0x0800, ipv4({ src: '198.18.0.1', dst: '198.18.0.2', proto: 6 }, tcp({ sport: 40000, dport: 443, flags }, Buffer.alloc(len)))));
  const s2c = (flags: number, len = 0) => pkt(eth(0x0800, ipv4({ src: '198.18.0.2', dst: '198.18.0.1', proto: 6 }, tcp({ sport: 443, dport: 40000, flags }, Buffer.alloc(len)))));

  it('tracks both directions of a TCP session, then releases it after it closes', () => {
    const ft = flows();
    at(1000);
    const syn = c2s(F.SYN);
    ft.update(syn);
    assert.equal(syn.flowEv, FE.NEW);
    assert.equal(syn.flowDir, 0);
    const synack = s2c(F.SYN | F.ACK);
    ft.update(synack);
    assert.equal(synack.flowSlot, syn.flowSlot);
    assert.equal(synack.flowDir, 1);
    assert.equal(synack.flowEv, FE.FIRST_REPLY);
    for (const p of [c2s(F.ACK), c2s(F.PSH | F.ACK, 100), s2c(F.PSH | F.ACK, 1000), c2s(F.FIN | F.ACK)]) ft.update(p);
    const slot = syn.flowSlot;
    assert.equal(ft.pkts(slot, 0), 4);
    assert.equal(ft.pkts(slot, 1), 2);
    assert.equal(ft.payload(slot, 0), 100);
    assert.equal(ft.payload(slot, 1), 1000);
    assert.equal(ft.tcpFlags(slot, 0), F.SYN | F.ACK | F.PSH | F.FIN);
    assert.equal(ft.state(slot) & FS.CLOSED, 0);
    const fin = s2c(F.FIN | F.ACK);
    ft.update(fin);
    assert.ok(ft.state(slot) & FS.CLOSED);
    assert.equal(ft.first(slot), 1000);
    at(1001);
    ft.expire(1001);
    assert.equal(ft.size, 1, 'kept for the closed timeout');
    at(1003);
    ft.expire(1003);
    assert.equal(ft.size, 0);
    assert.equal(ft.stats().closed_released, 1);
  });

  it('takes the SYN-ACK sender as the server when the SYN was missed', () => {
    const ft = flows();
    at(2000);
    const synack = s2c(F.SYN | F.ACK);
    ft.update(synack);
    assert.equal(synack.flowDir, 1, 'the reply direction');
    assert.ok(ft.state(synack.flowSlot) & FS.MIDSTREAM);
  });

  it('keys UDP, ICMP echo and IPv6 flows; expires idle ones; ignores what has no ports', () => {
    const ft = flows();
    at(3000);
    const q = pkt(eth(0x0800, ipv4({ src: '198.18.0.1', dst: '198.18.0.53', proto: 17 }, udp(5353, 53))));
    const a = pkt(eth(0x0800, ipv4({ src: '198.18.0.53', dst: '198.18.0.1', proto: 17 }, udp(53, 5353))));
    ft.update(q);
    ft.update(a);
    assert.equal(a.flowSlot, q.flowSlot);
    assert.equal(a.flowDir, 1);
    const ping = pkt(eth(0x0800, ipv4({ src: '198.18.0.1', dst: '198.18.0.2', proto: 1 }, icmp(8, 0, 0x00090001))));
    const pong = pkt(eth(0x0800, ipv4({ src: '198.18.0.2', dst: '198.18.0.1', proto: 1 }, icmp(0, 0, 0x00090001))));
    ft.update(ping);
    ft.update(pong);
    assert.equal(pong.flowSlot, ping.flowSlot);
    assert.equal(pong.flowDir, 1);
    const v6a = pkt(eth(0x86dd, ipv6({ src: '2001:db8::1', dst: '2001:db8::2', nh: 6 }, tcp({ sport: 1, dport: 2, flags: F.SYN }))));
    const v6b = pkt(eth(0x86dd, ipv6({ src: '2001:db8::2', dst: '2001:db8::1', nh: 6 }, tcp({ sport: 2, dport: 1, flags: F.SYN | F.ACK }))));
    ft.update(v6a);
    ft.update(v6b);
    assert.equal(v6b.flowSlot, v6a.flowSlot);
    assert.ok(v6a.flowSlot >= 1024, 'IPv6 slots follow the IPv4 ones');
    const unreachable = pkt(eth(0x0800, ipv4({ src: '198.18.0.2', dst: '198.18.0.1', proto: 1 }, icmp(3, 3, 0, Buffer.alloc(28)))));
    ft.update(unreachable);
    assert.equal(unreachable.flowSlot, -1);
    assert.equal(ft.size, 3);
    at(3061);
    ft.expire(3061);
    assert.equal(ft.size, 0);
  });

  it('evicts the least recently used flow when full', () => {
    const ft = new FlowTable({ timeout: 600, closedTimeout: 2, maxFlows: 1024 }, clock);
    at(4000);
    for (let i = 0; i < 1500; i++) {
      ft.update(pkt(eth(0x0800, ipv4({ src: '198.18.0.1', dst: '198.18.0.2', proto: 17 }, udp(10000 + i, 53)))));
    }
    assert.equal(ft.size, 1024);
    assert.equal(ft.stats().evicted, 1500 - 1024);
  });
});

describe('default route', () => {
  it('picks the IPv4 default route with the lowest metric, else the IPv6 one', () => {
    const v4 = [
      'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
      'eth1\t00000000\t0112A8C0\t0003\t0\t0\t200\t00000000\t0\t0\t0',
      'eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0',
      'eth0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
    ].join('\n');
    assert.deepEqual(parseRouteV4(v4), { iface: 'eth0', gateway: '10.0.0.1', family: 4 });
    assert.equal(parseRouteV4(v4.split('\n').slice(0, 1).join('\n')), null);
    const v6 = [
      '00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003 ens3',
      '00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200 lo',
    ].join('\n');
    assert.deepEqual(parseRouteV6(v6), { iface: 'ens3', gateway: 'fe80::1', family: 6 });
  });
});
