// IP reassembly (src/defrag/): Suricata's defrag.c unit tests ported (the Sturges/Novak overlap
// vectors for every policy, IPv4 and IPv6, and the BSD, Linux, MF and missing-fragment cases), in
// order / reversed / shuffled / duplicated fragments, per-destination policies, timeouts, the
// caps under a 1M random fragment flood, tiny first fragments, fragments past the end, oversize
// datagrams, IPv6 extension headers, the rebuilt packet's fields and link layer, and the decoder's
// counters left alone by the re-decode.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LinkType, PF, Packet } from '../src/core/packet.js';
import { Decoder } from '../src/decode/decoder.js';
import { DEFRAG_DEFAULTS, Defrag, type DefragConfig, type DefragPolicy } from '../src/defrag/defrag.js';
import { F, checksum, eth, ext8, frag6, ipv4, ipv6, linuxSynOptions, rng, sll, tcp, udp } from '../tools/craft.js';

const E = LinkType.ETHERNET;
const S4 = '198.18.0.1';
const D4 = '198.18.0.2';
const S6 = '2001:db8::1';
const D6 = '2001:db8::2';

interface Harness {
  d: Decoder;
  df: Defrag;
  p: Packet;
  /** Decodes a frame and pushes it when it is a fragment; returns push()'s answer. */
  push(frame: Uint8Array, t?: number, linktype?: number): boolean;
  events(): Record<string, number>;
}

function harness(cfg: Partial<DefragConfig> = {}): Harness {
  const d = new Decoder();
  const df = new Defrag(d, cfg);
  const p = new Packet();
  return {
    d,
    df,
    p,
    push(frame, t = 1000, linktype = E) {
      p.data = frame;
      p.off = 0;
      p.caplen = frame.length;
      p.wirelen = frame.length;
      p.linktype = linktype;
      p.tsSec = Math.floor(t);
      p.tsNsec = 0;
      d.decode(p);
      return (p.flags & PF.FRAG) !== 0 && df.push(p, t);
    },
    events: () => d.stats.eventCounts(),
  };
}

/** An IPv4 fragment (offset in bytes) of `payload`, in an Ethernet frame. */
function f4(off: number, mf: boolean, payload: Uint8Array, o: { id?: number; proto?: number; src?: string; dst?: string; options?: Uint8Array } = {}): Buffer {
  return eth(0x0800, ipv4({ src: o.src ?? S4, dst: o.dst ?? D4, proto: o.proto ?? 1, id: o.id ?? 1, mf, fragOff: off, options: o.options }, payload));
}

/** An IPv6 fragment (offset in bytes), with optional extension headers before the fragment header. */
function f6(off: number, mf: boolean, payload: Uint8Array, o: { id?: number; nh?: number; dst?: string; before?: ReturnType<typeof ext8>[] } = {}): Buffer {
  return eth(0x86dd, ipv6({ src: S6, dst: o.dst ?? D6, nh: o.nh ?? 58, ext: [...(o.before ?? []), frag6(off, mf, o.id ?? 1)] }, payload));
}

const fill = (ch: string, n: number): Buffer => Buffer.alloc(n, ch);

/** The rebuilt IP payload (after the IPv4 header or the IPv6 header and its unfragmentable part). */
function l3Payload(p: Packet, skip = 0): string {
  const hl = p.ipVer === 4 ? (p.data[p.l3Off]! & 15) << 2 : 40 + skip;
  return Buffer.from(p.data.subarray(p.l3Off + hl, p.off + p.caplen)).toString('latin1');
}

// --- Suricata's DefragDoSturgesNovakTest: 17 fragments, expected payload per policy ----------

const NOVAK: [number, string, number][] = [
  [0, 'A', 24],
  [32, 'B', 16],
  [48, 'C', 24],
  [80, 'D', 8],
  [104, 'E', 16],
  [120, 'F', 24],
  [144, 'G', 16],
  [160, 'H', 16],
  [176, 'I', 8],
  // The overlapping ones.
  [8, 'J', 32],
  [48, 'K', 24],
  [72, 'L', 24],
  [96, 'M', 24],
  [128, 'N', 8],
  [152, 'O', 8],
  [160, 'P', 8],
  [176, 'Q', 16], // MF=0
];

const EXPECTED: Record<DefragPolicy, string> = {
  bsd: 'AAAJJBCCCLLLMMMFFFGGHHIQ',
  linux: 'AAAJJBKKKLLLMMMFFFGGPHQQ',
  windows: 'AAAJBBCCCLLLMEEFFFGGHHIQ',
  solaris: 'AAAJBBCCCLLLMMMFFFGGHHIQ',
  first: 'AAAJBBCCCLDLMEEFFFGGHHIQ',
  last: 'AJJJJBKKKLLLMMMFNFGOPHQQ',
};

const expand = (s: string): string => [...s].map((c) => c.repeat(8)).join('');

function sturgesNovak(policy: DefragPolicy, v6: boolean, h = harness({ policy }), dst?: string): string {
  const ov = v6 ? 'decoder.ipv6.frag_overlap' : 'decoder.ipv4.frag_overlap';
  NOVAK.forEach(([off, ch, len], i) => {
    const last = i === NOVAK.length - 1;
    const frame = v6 ? f6(off, !last, fill(ch, len), { dst }) : f4(off, !last, fill(ch, len), { dst });
    const before = h.events()[ov] ?? 0;
    const done = h.push(frame);
    assert.equal(done, last, `fragment ${i} (${ch})`);
    if (i < 9) assert.equal(h.events()[ov] ?? 0, before, `no overlap for the original fragment ${ch}`);
  });
  assert.ok((h.events()[ov] ?? 0) > 0, 'some overlap raised');
  const p = h.p;
  assert.ok(p.flags & PF.REASSEMBLED);
  assert.ok(p.flags & PF.FRAG_OVERLAP);
  if (v6) assert.equal((p.data[p.l3Off + 4]! << 8) | p.data[p.l3Off + 5]!, 192);
  else assert.equal(p.ipLen, 20 + 192);
  const st = h.df.stats();
  assert.equal(st.fragments_held, 0, 'every fragment released');
  assert.equal(st.memuse, 0);
  assert.equal(st.trackers, 0);
  return l3Payload(p);
}

describe('Sturges/Novak overlap vectors (Suricata DefragSturgesNovak*Test)', () => {
  for (const policy of Object.keys(EXPECTED) as DefragPolicy[]) {
    it(`${policy}, IPv4 and IPv6`, () => {
      assert.equal(sturgesNovak(policy, false), expand(EXPECTED[policy]));
      assert.equal(sturgesNovak(policy, true), expand(EXPECTED[policy]));
    });
  }

  it('chooses the policy by the destination: the longest configured prefix, else the default', () => {
    const cfg: Partial<DefragConfig> = {
      policy: 'bsd',
      policies: [
        { cidr: '198.18.0.0/16', policy: 'windows' },
        { cidr: '198.18.1.0/24', policy: 'first' },
        { cidr: '2001:db8:1::/48', policy: 'last' },
      ],
    };
    assert.equal(sturgesNovak('first', false, harness(cfg), '198.18.1.9'), expand(EXPECTED.first));
    assert.equal(sturgesNovak('windows', false, harness(cfg), '198.18.7.9'), expand(EXPECTED.windows));
    assert.equal(sturgesNovak('bsd', false, harness(cfg), '203.0.113.9'), expand(EXPECTED.bsd));
    assert.equal(sturgesNovak('last', true, harness(cfg), '2001:db8:1::9'), expand(EXPECTED.last));
    assert.equal(sturgesNovak('bsd', true, harness(cfg), '2001:db8:2::9'), expand(EXPECTED.bsd));
    assert.equal(new Defrag(new Decoder()).config.policy, 'linux', 'linux by default');
  });

  it('refuses a bad config', () => {
    const d = new Decoder();
    assert.throws(() => new Defrag(d, { policy: 'bsd-right' as DefragPolicy }), /unknown defrag policy/);
    assert.throws(() => new Defrag(d, { policies: [{ cidr: '198.18.0.0/33', policy: 'bsd' }] }), /invalid defrag policy CIDR/);
    assert.throws(() => new Defrag(d, { timeout: 0 }), /timeout/);
    assert.throws(() => new Defrag(d, { memcap: 1000 }), /memcap/);
    assert.throws(() => new Defrag(d, { max_frags: 0 }), /max_frags/);
    assert.deepEqual({ ...DEFRAG_DEFAULTS, policies: [] }, { timeout: 60, memcap: 32 << 20, max_trackers: 65535, max_frags: 256, policy: 'linux', policies: [] });
  });
});

describe("Suricata's other defrag.c cases", () => {
  for (const v6 of [false, true]) {
    const fam = v6 ? 'IPv6' : 'IPv4';
    const fr = (off: number, mf: boolean, payload: Uint8Array, id = 1) => (v6 ? f6(off, mf, payload, { id }) : f4(off, mf, payload, { id }));

    it(`${fam}: in order, reversed and shuffled fragments give the same datagram`, () => {
      const parts = [fr(0, true, fill('A', 8), 12), fr(8, true, fill('B', 8), 12), fr(16, false, fill('C', 3), 12)];
      for (const order of [
        [0, 1, 2],
        [2, 1, 0],
        [1, 2, 0],
        [2, 0, 1],
      ]) {
        const h = harness();
        const r = order.map((i) => h.push(parts[i]!));
        assert.deepEqual(r, [false, false, true], `order ${order}`);
        assert.equal(l3Payload(h.p), 'A'.repeat(8) + 'B'.repeat(8) + 'C'.repeat(3));
        if (v6) assert.equal((h.p.data[h.p.l3Off + 4]! << 8) | h.p.data[h.p.l3Off + 5]!, 19);
        else assert.equal(h.p.ipLen, 39);
        assert.equal(h.p.fragCount, 3);
      }
    });

    it(`${fam}: fragments after the MF=0 one are left out (DefragMf*Test), and flagged`, () => {
      const h = harness();
      assert.equal(h.push(fr(16, true, fill('C', 8), 9)), false);
      assert.equal(h.push(fr(0, true, fill('A', 8), 9)), false);
      assert.equal(h.push(fr(8, false, fill('B', 8), 9)), true);
      assert.equal(l3Payload(h.p), 'A'.repeat(8) + 'B'.repeat(8));
      assert.equal(h.p.fragCount, 2);
      assert.equal(h.events()[v6 ? 'decoder.ipv6.frag_after_end' : 'decoder.ipv4.frag_after_end'], 1);
      assert.equal(h.df.stats().after_end, 1);
      // The last fragment first, then data past its end: flagged, and left out.
      assert.equal(h.push(fr(8, false, fill('B', 8), 10)), false);
      assert.equal(h.push(fr(16, true, fill('C', 8), 10)), false);
      assert.equal(h.df.stats().after_end, 2);
      assert.equal(h.push(fr(0, true, fill('A', 8), 10)), true);
      assert.equal(l3Payload(h.p), 'A'.repeat(8) + 'B'.repeat(8));
    });

    it(`${fam}: BSD, a fragment after the MF=0 one with an overlap (DefragBsdFragmentAfterNoMf*Test)`, () => {
      const h = harness({ policy: 'bsd' });
      assert.equal(h.push(fr(24, false, fill('A', 16), 0x96)), false);
      assert.equal(h.push(fr(8, true, fill('B', 16), 0x96)), false);
      assert.equal(h.push(fr(16, true, fill('C', 16), 0x96)), false);
      assert.equal(h.push(fr(0, true, fill('D', 8), 0x96)), true);
      assert.equal(l3Payload(h.p), expand('DBBCA'));
    });

    it(`${fam}: BSD, a later fragment overlapping the start of an earlier one (DefragBsdSubsequentOverlapsStartOfOriginal*)`, () => {
      let h = harness({ policy: 'bsd' });
      assert.equal(h.push(fr(8, false, fill('E', 24))), false);
      assert.equal(h.push(fr(0, true, fill('M', 24))), true);
      assert.equal(l3Payload(h.p), expand('MMME'));

      h = harness({ policy: 'bsd' });
      assert.equal(h.push(fr(16, true, Buffer.from('AABBCCDDAABBDDCC'), 6)), false);
      assert.equal(h.push(fr(8, true, Buffer.from('AACCBBDDAACCDDBB'), 6)), false);
      assert.equal(h.push(fr(0, true, Buffer.from('ZZZZZZZZ'), 6)), false);
      assert.equal(h.push(fr(32, false, Buffer.from('DDCCBBAA'), 6)), true);
      assert.equal(l3Payload(h.p).slice(8), 'AACCBBDDAACCDDBBAABBDDCCDDCCBBAA');
    });

    it(`${fam}: a hole keeps the datagram waiting (DefragBsdMissingFragment*Test)`, () => {
      const h = harness({ policy: 'bsd' });
      const parts = [
        fr(16, true, Buffer.from('AABBCCDDAABBDDCC'), 189),
        fr(40, true, Buffer.from('AACCBBDD'), 189),
        fr(8, true, Buffer.from('AACCDDBBAADDBBCC'), 189),
        fr(0, true, Buffer.from('ZZZZZZZZ'), 189),
        fr(48, false, Buffer.from('DDCCBBAA'), 189),
      ];
      for (const f of parts) assert.equal(h.push(f), false);
      assert.equal(h.df.stats().trackers, 1);
      assert.equal(h.df.stats().fragments_held, 5);
    });
  }

  it('Linux: the overlap case of DefragTestJeremyLinux', () => {
    const h = harness({ policy: 'linux' });
    assert.equal(h.push(f4(0, true, fill('A', 24))), false);
    assert.equal(h.push(f4(40, true, fill('B', 48))), false);
    assert.equal(h.push(f4(24, true, fill('C', 48))), false);
    assert.equal(h.push(f4(88, false, fill('D', 14))), true);
    assert.equal(l3Payload(h.p), 'A'.repeat(24) + 'C'.repeat(48) + 'B'.repeat(16) + 'D'.repeat(14));
  });

  it('fragments differing only in protocol, VLAN or id are different datagrams (DefragTestBadProto, DefragVlanTest)', () => {
    const h = harness();
    assert.equal(h.push(f4(0, true, fill('A', 8), { proto: 1 })), false);
    assert.equal(h.push(f4(8, true, fill('B', 8), { proto: 17 })), false);
    assert.equal(h.push(f4(16, false, fill('C', 3), { proto: 1 })), false);
    const v1 = eth(0x0800, ipv4({ src: S4, dst: D4, proto: 1, id: 5, mf: true }, fill('A', 8)), [10]);
    const v2 = eth(0x0800, ipv4({ src: S4, dst: D4, proto: 1, id: 5, fragOff: 8 }, fill('B', 8)), [11]);
    assert.equal(h.push(v1), false);
    assert.equal(h.push(v2), false);
    assert.equal(h.push(f4(0, true, fill('A', 8), { id: 7 })), false);
    assert.equal(h.push(f4(8, false, fill('B', 8), { id: 8 })), false);
    assert.equal(h.df.stats().reassembled, 0);
    assert.equal(h.df.stats().trackers, 6);
  });

  it('an empty fragment is ignored (DefragNoDataIpv4Test)', () => {
    const h = harness();
    assert.equal(h.push(f4(8, false, Buffer.alloc(0))), false);
    assert.equal(h.df.stats().trackers, 0);
    assert.equal(h.df.stats().ignored, 1);
  });

  it('a fragment past 65,535 bytes is refused (DefragTooLargeIpv4Test)', () => {
    const h = harness();
    assert.equal(h.push(f4(8183 << 3, false, fill('A', 71))), false);
    assert.equal(h.events()['decoder.ipv4.frag_pkt_too_large'], 1);
    assert.equal(h.df.stats().dropped_oversize, 1);
    assert.equal(h.df.stats().trackers, 0);
    assert.equal(h.push(f6(65528, false, fill('A', 16))), false);
    assert.equal(h.events()['decoder.ipv6.frag_pkt_too_large'], 1);
    assert.equal(h.df.stats().dropped_oversize, 2);
  });
});

describe('overlaps, duplicates, timeouts', () => {
  it('a duplicate fragment (same bytes) is no overlap event; different bytes are', () => {
    const h = harness();
    assert.equal(h.push(f4(0, true, fill('A', 16))), false);
    assert.equal(h.push(f4(0, true, fill('A', 16))), false);
    assert.equal(h.push(f4(8, true, fill('A', 8))), false);
    assert.equal(h.events()['decoder.ipv4.frag_overlap'], undefined);
    assert.equal(h.df.stats().duplicates, 2);
    assert.equal(h.push(f4(16, false, fill('B', 8))), true);
    assert.equal(h.p.flags & PF.FRAG_OVERLAP, 0);
    assert.equal(l3Payload(h.p), 'A'.repeat(16) + 'B'.repeat(8));

    assert.equal(h.push(f4(0, true, fill('A', 16), { id: 2 })), false);
    assert.equal(h.push(f4(8, false, fill('X', 16), { id: 2 })), true);
    assert.equal(h.events()['decoder.ipv4.frag_overlap'], 1);
    assert.equal(h.df.stats().overlaps, 1);
    assert.ok(h.p.flags & PF.FRAG_OVERLAP);
    // Linux keeps the earlier bytes where a later fragment overlaps their end.
    assert.equal(l3Payload(h.p), 'A'.repeat(16) + 'X'.repeat(8));
    assert.equal(h.p.evCount >= 1, true, 'the overlap event stays on the rebuilt packet');
  });

  it('tick() expires datagrams idle for longer than the timeout, and counts them', () => {
    const h = harness({ timeout: 30 });
    assert.equal(h.push(f4(0, true, fill('A', 8), { id: 1 }), 100), false);
    assert.equal(h.push(f4(0, true, fill('A', 8), { id: 2 }), 120), false);
    h.df.tick(129);
    assert.equal(h.df.stats().trackers, 2);
    h.df.tick(131);
    assert.equal(h.df.stats().trackers, 1);
    assert.equal(h.df.stats().timeouts, 1);
    // Each fragment restarts the wait: id 2 gets a fragment at 140, so it lives past 150.
    assert.equal(h.push(f4(16, true, fill('C', 8), { id: 2 }), 140), false);
    h.df.tick(160);
    assert.equal(h.df.stats().trackers, 1);
    h.df.tick(171);
    const st = h.df.stats();
    assert.equal(st.trackers, 0);
    assert.equal(st.timeouts, 2);
    assert.equal(st.memuse, 0);
    assert.equal(st.fragments_held, 0);
    assert.equal(h.events()['decoder.defrag.timeout'], 2);
  });

  it('a fragment arriving after the timeout starts a new datagram (no tick needed)', () => {
    const h = harness({ timeout: 60 });
    assert.equal(h.push(f4(0, true, fill('A', 8)), 100), false);
    assert.equal(h.push(f4(8, false, fill('B', 8)), 161), false);
    assert.equal(h.df.stats().timeouts, 1);
    assert.equal(h.push(f4(0, true, fill('A', 8)), 162), true);
  });

  it('clear() drops everything held', () => {
    const h = harness();
    for (let i = 0; i < 10; i++) h.push(f4(0, true, fill('A', 800), { id: i }));
    assert.equal(h.df.stats().trackers, 10);
    h.df.clear();
    const st = h.df.stats();
    assert.equal(st.trackers + st.memuse + st.fragments_held + st.timeouts, 0);
    assert.equal(h.push(f4(0, true, fill('A', 8))), false);
    assert.equal(h.push(f4(8, false, fill('B', 8))), true);
  });
});

describe('bounds', () => {
  it('1M random fragments stay within the memcap and tracker cap; a real datagram still gets through', () => {
    const h = harness();
    const cfg = h.df.config;
    const r = rng(7);
    // One frame rewritten in place: random source, id, offset, MF and length. Small fragments
    // first (the tracker cap binds), then large ones (the memcap binds).
    const frame = f4(0, true, Buffer.alloc(1480, 0x41));
    const ip = 14;
    let maxMem = 0;
    let maxTrackers = 0;
    let reassembled = 0;
    let frags = 2;
    for (let i = 0; i < 1_000_000; i++) {
      const len = i < 500_000 ? 8 + ((r() * 8) | 0) * 8 : 1000 + ((r() * 60) | 0) * 8;
      frame.writeUInt16BE(20 + len, ip + 2);
      frame.writeUInt16BE(((r() * 0x10000) | 0) & 0xffff, ip + 4);
      const off = r() < 0.3 ? 0 : ((r() * 64) | 0) + 1;
      frame.writeUInt16BE((r() < 0.5 ? 0x2000 : 0) | off, ip + 6);
      frame.writeUInt32BE((0xc6120000 | ((r() * 0xffff) | 0)) >>> 0, ip + 12);
      h.p.data = frame;
      h.p.off = 0;
      h.p.caplen = 14 + 20 + len;
      h.p.wirelen = h.p.caplen;
      h.p.linktype = E;
      h.d.decode(h.p);
      if (h.p.flags & PF.FRAG) frags++;
      if (h.df.push(h.p, 1000 + i / 100000)) reassembled++;
      if ((i & 4095) === 0) {
        const st = h.df.stats();
        if (st.memuse > maxMem) maxMem = st.memuse;
        if (st.trackers > maxTrackers) maxTrackers = st.trackers;
      }
      if (i === 500_000) {
        // A genuine datagram in the middle of the flood.
        assert.equal(h.push(f4(0, true, fill('A', 1000), { id: 4242, src: '198.19.0.1' }), 1005), false);
        assert.equal(h.push(f4(1000, false, fill('B', 1000), { id: 4242, src: '198.19.0.1' }), 1005), true);
        assert.equal(l3Payload(h.p), 'A'.repeat(1000) + 'B'.repeat(1000));
      }
    }
    const st = h.df.stats();
    assert.ok(maxMem <= cfg.memcap && st.memuse <= cfg.memcap, `memuse ${maxMem} <= ${cfg.memcap}`);
    assert.ok(maxTrackers <= cfg.max_trackers && st.trackers <= cfg.max_trackers);
    assert.ok(st.dropped_max_trackers > 0, 'the tracker cap was hit');
    assert.ok(st.dropped_memcap > 0, 'the memcap was hit');
    assert.equal(st.fragments, frags);
    assert.ok(frags > 800_000);
    const ev = h.events();
    assert.ok(ev['decoder.defrag.max_trackers']! > 0);
    assert.ok(ev['decoder.defrag.memcap']! > 0);
    assert.ok(reassembled > 0, 'random pieces sometimes make a whole (offset 0 with MF=0 pieces are no fragments)');
    h.df.tick(2000);
    const end = h.df.stats();
    assert.equal(end.trackers, 0);
    assert.equal(end.memuse, 0);
    assert.equal(end.fragments_held, 0);
  });

  it('a small memcap drops the least recently used datagrams, not the one being built', () => {
    const h = harness({ memcap: 128 * 1024 });
    for (let i = 0; i < 200; i++) assert.equal(h.push(f4(0, true, fill('A', 1480), { id: i }), 1000 + i / 10), false);
    const st = h.df.stats();
    assert.ok(st.memuse <= 128 * 1024);
    assert.ok(st.dropped_memcap > 0);
    assert.ok(st.trackers < 200);
    // The newest datagrams are still there.
    assert.equal(h.push(f4(1480, false, fill('B', 8), { id: 199 }), 1030), true);
    assert.equal(h.push(f4(1480, false, fill('B', 8), { id: 0 }), 1030), false);
  });

  it('max_trackers drops the least recently used datagram', () => {
    const h = harness({ max_trackers: 4 });
    for (let i = 0; i < 6; i++) h.push(f4(0, true, fill('A', 8), { id: i }), 1000 + i);
    assert.equal(h.df.stats().trackers, 4);
    assert.equal(h.df.stats().dropped_max_trackers, 2);
    assert.equal(h.push(f4(8, false, fill('B', 8), { id: 1 }), 1010), false, 'id 1 was dropped');
    assert.equal(h.push(f4(8, false, fill('B', 8), { id: 5 }), 1010), true);
  });

  it('max_frags drops a datagram sent in too many pieces', () => {
    const h = harness({ max_frags: 16 });
    for (let i = 0; i < 16; i++) assert.equal(h.push(f4(i * 8, true, fill('A', 8))), false);
    assert.equal(h.df.stats().fragments_held, 16);
    assert.equal(h.push(f4(128, false, fill('A', 8))), false);
    const st = h.df.stats();
    assert.equal(st.dropped_max_frags, 1);
    assert.equal(st.trackers, 0);
    assert.equal(st.fragments_held, 0);
    assert.equal(h.events()['decoder.defrag.max_frags'], 1);
  });

  it('a datagram whose first header makes it longer than 65,535 bytes is refused at reassembly', () => {
    const h = harness();
    const opts = Buffer.alloc(40, 1); // 40 bytes of NOPs: a 60-byte header
    assert.equal(h.push(f4(0, true, fill('A', 65472), { options: opts })), false);
    assert.equal(h.push(f4(65472, false, fill('B', 24))), false);
    assert.equal(h.df.stats().dropped_oversize, 1);
    assert.equal(h.events()['decoder.ipv4.frag_pkt_too_large'], 1);
    assert.equal(h.df.stats().trackers, 0);
    // 20-byte header: 65,516 bytes, fine.
    assert.equal(h.push(f4(0, true, fill('A', 65472), { id: 2 })), false);
    assert.equal(h.push(f4(65472, false, fill('B', 24), { id: 2 })), true);
    assert.equal(h.p.ipLen, 65516);
    assert.equal(h.p.caplen, 14 + 65516);
  });
});

describe('the rebuilt packet', () => {
  it('a SYN cut into 8-byte fragments (nmap -f): split header flagged, tiny event, whole TCP fields', () => {
    const h = harness();
    const seg = tcp({ sport: 40000, dport: 22, flags: F.SYN, seq: 0x12345678, options: linuxSynOptions() });
    assert.equal(seg.length, 40);
    const frags = [0, 8, 16, 24, 32].map((o) => f4(o, o + 8 < seg.length, seg.subarray(o, o + 8), { proto: 6, id: 77 }));
    const res = frags.map((f) => h.push(f));
    assert.deepEqual(res, [false, false, false, false, true]);
    const p = h.p;
    assert.equal(p.flags & (PF.REASSEMBLED | PF.L4_SPLIT | PF.TCP | PF.IPV4 | PF.ETH), PF.REASSEMBLED | PF.L4_SPLIT | PF.TCP | PF.IPV4 | PF.ETH);
    assert.equal(p.flags & (PF.FRAG | PF.FRAG_LATER | PF.L4_PARTIAL), 0);
    assert.equal(p.fragCount, 5);
    assert.equal(p.sport, 40000);
    assert.equal(p.dport, 22);
    assert.equal(p.tcpFlags, F.SYN);
    assert.equal(p.tcpSeq >>> 0, 0x12345678);
    assert.equal(p.tcpMss, 1460);
    assert.equal(p.tcpWscale, 7);
    assert.equal(p.tcpHdrLen, 40);
    assert.equal(p.payOff, p.l4Off + 40);
    assert.equal(p.payLen, 0);
    assert.equal(p.ipLen, 60);
    assert.equal(p.fragOff, 0);
    assert.equal(p.fragMore, 0);
    assert.equal(p.ttl, 64);
    assert.equal(p.ipId, 77);
    assert.equal(p.tsSec, 1000);
    assert.equal(h.events()['decoder.ipv4.frag_tiny'], 1);
    assert.equal(h.df.stats().tiny, 1);
    // The rebuilt IPv4 header is valid: MF and offset cleared, checksum right.
    const ip = Buffer.from(p.data.subarray(p.l3Off, p.l3Off + 20));
    assert.equal(ip.readUInt16BE(6), 0);
    assert.equal(checksum(ip), 0);
    // The decoder counted the five fragments, never the rebuilt datagram.
    const c = h.d.stats.counters.toFlat();
    assert.equal(c.pkts, 5);
    assert.equal(c.ipv4, 5);
    assert.equal(c.tcp, 5);
    assert.equal(c.ipv4_frag, 5);
    assert.equal(c.tcp_syn, 0, 'no fragment holds the flags byte (nor does tcpdump count one)');
    assert.equal(c.bytes, frags.reduce((n, f) => n + f.length, 0));
  });

  it('a first fragment holding the whole TCP header is not split (nmap --mtu 24 -sF)', () => {
    const h = harness();
    const seg = tcp({ sport: 40001, dport: 80, flags: F.FIN }, Buffer.alloc(0));
    assert.equal(h.push(f4(0, true, seg.subarray(0, 16), { proto: 6, id: 3 })), false);
    assert.equal(h.push(f4(16, false, seg.subarray(16), { proto: 6, id: 3 })), true);
    assert.ok(h.p.flags & PF.L4_SPLIT, '16 of 20 bytes: split');
    const seg2 = tcp({ sport: 40001, dport: 80, flags: F.FIN }, Buffer.alloc(16, 0x55));
    assert.equal(h.push(f4(0, true, seg2.subarray(0, 24), { proto: 6, id: 4 })), false);
    assert.equal(h.push(f4(24, false, seg2.subarray(24), { proto: 6, id: 4 })), true);
    assert.equal(h.p.flags & PF.L4_SPLIT, 0);
    assert.equal(h.p.tcpFlags, F.FIN);
    assert.equal(h.p.payLen, 16);
    assert.equal(h.events()['decoder.ipv4.frag_tiny'], 1);
  });

  it('a first fragment under the TCP data offset is split; a short UDP header too', () => {
    const h = harness();
    const seg = tcp({ sport: 1, dport: 2, flags: F.SYN, options: linuxSynOptions() });
    assert.equal(h.push(f4(0, true, seg.subarray(0, 24), { proto: 6 })), false);
    assert.equal(h.push(f4(24, false, seg.subarray(24), { proto: 6 })), true);
    assert.ok(h.p.flags & PF.L4_SPLIT);
    const dg = udp(5353, 53, Buffer.alloc(40, 7));
    assert.equal(h.push(f4(0, true, dg.subarray(0, 0 + 8), { proto: 17, id: 9 })), false, '8 bytes: whole UDP header');
    assert.equal(h.push(f4(8, false, dg.subarray(8), { proto: 17, id: 9 })), true);
    assert.equal(h.p.flags & PF.L4_SPLIT, 0);
    assert.equal(h.events()['decoder.ipv4.frag_tiny'], 1);
  });

  it('a UDP datagram in three fragments: ports, length and payload of the whole', () => {
    const h = harness();
    const body = Buffer.alloc(3000);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 0xff;
    const dg = udp(5000, 6000, body);
    const cuts = [0, 1480, 2960, dg.length];
    const frags = [0, 1, 2].map((i) => f4(cuts[i]!, i < 2, dg.subarray(cuts[i]!, cuts[i + 1]!), { proto: 17, id: 31 }));
    assert.equal(h.push(frags[1]!), false);
    assert.equal(h.push(frags[2]!), false);
    assert.equal(h.push(frags[0]!), true);
    const p = h.p;
    assert.ok(p.flags & PF.UDP);
    assert.equal(p.sport, 5000);
    assert.equal(p.dport, 6000);
    assert.equal(p.udpLen, 3008);
    assert.equal(p.payLen, 3000);
    assert.deepEqual(Buffer.from(p.data.subarray(p.payOff, p.payOff + p.payLen)), body);
    assert.equal(p.caplen, 14 + 20 + 3008);
    assert.equal(p.wirelen, p.caplen);
    assert.deepEqual(h.events(), {});
  });

  it('keeps the link layer: VLAN tags, Linux SLL, and the first fragment\'s link type', () => {
    const h = harness();
    const a = eth(0x0800, ipv4({ src: S4, dst: D4, proto: 1, id: 3, mf: true }, fill('A', 16)), [100, 200]);
    const b = eth(0x0800, ipv4({ src: S4, dst: D4, proto: 1, id: 3, fragOff: 16 }, fill('B', 16)), [100, 200]);
    assert.equal(h.push(b), false);
    assert.equal(h.push(a), true);
    assert.equal(h.p.vlanCount, 2);
    assert.equal(h.p.vlanId0, 100);
    assert.equal(h.p.vlanId1, 200);
    assert.equal(h.p.l3Off, 22);
    assert.deepEqual(Buffer.from(h.p.data.subarray(0, 22)), a.subarray(0, 22));
    assert.equal(h.p.linktype, E);
    const c = sll(0x0800, ipv4({ src: S4, dst: D4, proto: 1, id: 4, mf: true }, fill('A', 16)));
    const d = sll(0x0800, ipv4({ src: S4, dst: D4, proto: 1, id: 4, fragOff: 16 }, fill('B', 16)));
    assert.equal(h.push(c, 1000, LinkType.LINUX_SLL), false);
    assert.equal(h.push(d, 1000, LinkType.LINUX_SLL), true);
    assert.equal(h.p.linktype, LinkType.LINUX_SLL);
    assert.equal(h.p.l3Off, 16);
    assert.equal(l3Payload(h.p), 'A'.repeat(16) + 'B'.repeat(16));
  });

  it('events on the rebuilt datagram count in the main decoder; a rebuilt packet is not pushed again', () => {
    const h = harness();
    // A TCP option whose length runs past the header: only visible once the datagram is whole.
    const seg = tcp({ sport: 1, dport: 2, flags: F.SYN, options: Buffer.from([2, 4, 5, 0xb4, 8, 30, 0, 0]) });
    assert.equal(h.push(f4(0, true, seg.subarray(0, 16), { proto: 6 })), false);
    assert.equal(h.push(f4(16, false, seg.subarray(16), { proto: 6 })), true);
    assert.equal(h.events()['decoder.tcp.opt_invalid_len'], 1);
    assert.equal(h.d.stats.counters.get('invalid'), 0, 'the fragments were valid');
    assert.equal(h.df.push(h.p, 1000), false);
    assert.equal(h.df.stats().ignored, 0, 'not a fragment any more');
  });
});

describe('IPv6', () => {
  it('extension headers before the fragment header stay; the one naming it now names the payload', () => {
    const h = harness();
    const seg = tcp({ sport: 33000, dport: 443, flags: F.SYN, options: linuxSynOptions() });
    const before = [ext8(0), ext8(60, 1)];
    assert.equal(h.push(f6(0, true, seg.subarray(0, 16), { nh: 6, before, id: 0x01020304 })), false);
    assert.equal(h.push(f6(16, false, seg.subarray(16), { nh: 6, before, id: 0x01020304 })), true);
    const p = h.p;
    assert.ok(p.flags & PF.TCP);
    assert.ok(p.flags & PF.L4_SPLIT);
    assert.equal(p.flags & PF.FRAG, 0);
    assert.equal(p.ipOptCount, 2, 'hop-by-hop and destination options, no fragment header');
    assert.equal(p.sport, 33000);
    assert.equal(p.dport, 443);
    assert.equal(p.tcpMss, 1460);
    const l3 = p.l3Off;
    assert.equal(p.data[l3 + 6], 0, 'IPv6 header still names hop-by-hop');
    assert.equal(p.data[l3 + 40], 60, 'hop-by-hop names the destination options');
    assert.equal(p.data[l3 + 48], 6, 'destination options now name TCP');
    assert.equal((p.data[l3 + 4]! << 8) | p.data[l3 + 5]!, 8 + 16 + 40);
    assert.equal(p.l4Off, l3 + 40 + 24);
    assert.equal(p.caplen, 14 + 40 + 24 + 40);
    assert.equal(h.events()['decoder.ipv6.frag_tiny'], 1);
    assert.equal(h.d.stats.counters.get('ipv6_frag'), 2);
  });

  it('no extension header: the IPv6 header names the payload; destination options after the fragment header are part of the data', () => {
    const h = harness();
    const payload = Buffer.concat([Buffer.from([17, 0, 1, 4, 0, 0, 0, 0]), udp(1000, 2000, Buffer.alloc(100, 9))]);
    assert.equal(h.push(f6(0, true, payload.subarray(0, 56), { nh: 60, id: 8 })), false);
    assert.equal(h.push(f6(56, false, payload.subarray(56), { nh: 60, id: 8 })), true);
    const p = h.p;
    assert.equal(p.data[p.l3Off + 6], 60);
    assert.ok(p.flags & PF.UDP);
    assert.equal(p.sport, 1000);
    assert.equal(p.payLen, 100);
    assert.equal(p.ipOptCount, 1);
    assert.equal(p.flags & PF.L4_SPLIT, 0);
    // Split behind an extension header in the fragmentable part: found at reassembly.
    assert.equal(h.push(f6(0, true, payload.subarray(0, 8 + 8), { nh: 60, id: 9 })), false);
    assert.equal(h.push(f6(16, false, payload.subarray(16), { nh: 60, id: 9 })), true);
    assert.equal(h.p.flags & PF.L4_SPLIT, 0, '8 bytes of UDP header after the options: whole');
    assert.equal(h.push(f6(0, true, payload.subarray(0, 8), { nh: 60, id: 10 })), false);
    assert.equal(h.push(f6(8, false, payload.subarray(8), { nh: 60, id: 10 })), true);
    assert.ok(h.p.flags & PF.L4_SPLIT);
    assert.equal(h.events()['decoder.ipv6.frag_tiny'], 1);
  });

  it('an atomic fragment (offset 0, M=0) is no fragment and is not held', () => {
    const h = harness();
    assert.equal(h.push(f6(0, false, udp(1, 2, Buffer.alloc(8)), { nh: 17 })), false);
    assert.equal(h.p.flags & PF.FRAG, 0);
    assert.ok(h.p.flags & PF.UDP);
    assert.equal(h.df.stats().fragments, 0);
  });
});

describe('random overlapping fragments', () => {
  it('every policy, IPv4 and IPv6: never throws, rebuilt packets are whole, nothing leaks', () => {
    const r = rng(11);
    const policies: DefragPolicy[] = ['bsd', 'linux', 'windows', 'solaris', 'first', 'last'];
    for (const policy of policies) {
      const h = harness({ policy, max_frags: 64 });
      let done = 0;
      for (let i = 0; i < 4000; i++) {
        const v6 = r() < 0.5;
        const id = (r() * 40) | 0;
        const off = ((r() * 24) | 0) * 8;
        const len = 1 + ((r() * 40) | 0);
        const mf = r() < 0.8;
        const body = Buffer.alloc(len, 0x41 + ((r() * 26) | 0));
        const frame = v6 ? f6(off, mf, body, { id, nh: 17 }) : f4(off, mf, body, { id, proto: 17 });
        if (h.push(frame, 1000 + i / 100)) {
          done++;
          const p = h.p;
          assert.ok(p.flags & PF.REASSEMBLED);
          assert.equal(p.flags & PF.FRAG, 0);
          assert.ok(p.fragCount >= 1);
          const l3len = v6 ? 40 + ((p.data[p.l3Off + 4]! << 8) | p.data[p.l3Off + 5]!) : p.ipLen;
          assert.equal(p.caplen, 14 + l3len, 'the frame is exactly the datagram');
          assert.equal(p.caplen, p.wirelen);
        }
        const st = h.df.stats();
        assert.ok(st.fragments_held <= st.memuse / 128 && st.trackers <= 80);
      }
      assert.ok(done > 20, `${policy}: ${done} rebuilt`);
      h.df.tick(5000);
      const st = h.df.stats();
      assert.equal(st.trackers + st.memuse + st.fragments_held, 0, policy);
    }
  });
});
