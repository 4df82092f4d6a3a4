// Capture-file tests: pcap in both byte orders with micro- and nanosecond stamps, pcapng with
// several interfaces and link types, if_tsresol / if_tsoffset, simple packet blocks, interface
// statistics and several sections; truncated, corrupt, empty and foreign files; gzip; stdin;
// records cut across read boundaries.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { describeLoss, DropWatch } from '../src/capture/drops.js';
import { FileSource } from '../src/capture/file-source.js';
import { emptyCaptureStats } from '../src/capture/source.js';
import { PalisadeError } from '../src/core/errors.js';
import { LinkType, PF, Packet } from '../src/core/packet.js';
import { Decoder } from '../src/decode/decoder.js';
import { F, eth, icmp, ipv4, ipv6, pcapFile, pcapngFile, sll2, tcp, udp, type Rec } from '../tools/craft.js';
import { GEN, palisade, replayJson, sh, tempDir } from './helpers/cli.js';

interface Seen {
  sec: number;
  nsec: number;
  linktype: number;
  iface: number;
  caplen: number;
  wirelen: number;
  flags: number;
  sport: number;
}

async function readAll(path: string, opts: { stdin?: Readable; chunk?: number } = {}): Promise<{ seen: Seen[]; src: FileSource }> {
  const src = new FileSource(path, opts.stdin, opts.chunk);
  const p = new Packet();
  const d = new Decoder();
  const seen: Seen[] = [];
  await src.run(p, () => {
    d.decode(p);
    seen.push({ sec: p.tsSec, nsec: p.tsNsec, linktype: p.linktype, iface: p.ifIndex, caplen: p.caplen, wirelen: p.wirelen, flags: p.flags, sport: p.sport });
  });
  return { seen, src };
}

const syn = (sport: number) => eth(0x0800, ipv4({ src: '198.18.0.1', dst: '198.18.0.2', proto: 6 }, tcp({ sport, dport: 80, flags: F.SYN })));
const recs: Rec[] = [
  { t: [1700000000, 123456789], data: syn(1001) },
  { t: [1700000001, 999999999], data: syn(1002) },
  { t: [4000000000, 1000], data: syn(1003) },
];

describe('pcap', () => {
  for (const bigEndian of [false, true]) {
    for (const nanos of [false, true]) {
      it(`reads ${bigEndian ? 'big' : 'little'}-endian ${nanos ? 'nanosecond' : 'microsecond'} files`, async (t) => {
        const f = join(tempDir(t), 'x.pcap');
        writeFileSync(f, pcapFile(LinkType.ETHERNET, recs, { bigEndian, nanos }));
        const { seen, src } = await readAll(f);
        assert.equal(src.format, 'pcap');
        assert.deepEqual(
          seen.map((s) => [s.sec, s.nsec, s.sport]),
          [
            [1700000000, nanos ? 123456789 : 123456000, 1001],
            [1700000001, nanos ? 999999999 : 999999000, 1002],
            [4000000000, nanos ? 1000 : 1000, 1003],
          ],
        );
        assert.ok(seen.every((s) => s.flags & PF.TCP));
      });
    }
  }

  it('reports a truncated last record as a warning and keeps every whole packet', async (t) => {
    const f = join(tempDir(t), 'cut.pcap');
    const full = pcapFile(LinkType.ETHERNET, recs);
    writeFileSync(f, full.subarray(0, full.length - 10));
    const { seen, src } = await readAll(f);
    assert.equal(seen.length, 2);
    assert.equal(src.stats().truncatedRecords, 1);
    assert.match(src.warnings[0]!, /cut short/);
    const r = replayJson([f]);
    assert.equal(r.code, 0);
    assert.equal(r.summary.packets, 2);
    assert.match(r.stderr, /warning: .*cut\.pcap: byte \d+: the last record is cut short/);
  });

  it('stops at a corrupt record with a located error and exit code 3', async (t) => {
    const f = join(tempDir(t), 'bad.pcap');
    const buf = pcapFile(LinkType.ETHERNET, recs);
    const second = 24 + 16 + recs[0]!.data.length;
    buf.writeUInt32LE(0x7fffffff, second + 8);
    writeFileSync(f, buf);
    await assert.rejects(readAll(f), (e: unknown) => e instanceof PalisadeError && e.code === 'PAL_ERR_CAPTURE_CORRUPT' && e.message.includes(`byte ${second}`));
    const r = replayJson([f]);
    assert.equal(r.code, 3);
    assert.equal(r.summary.packets, 1, 'packets before the corruption are processed');
    assert.match(r.stderr, /PAL_ERR_CAPTURE_CORRUPT/);
  });

  it('honours the FCS bits of the link-type field', async (t) => {
    const f = join(tempDir(t), 'fcs.pcap');
    const withFcs = Buffer.concat([syn(1), Buffer.from([1, 2, 3, 4])]);
    const buf = pcapFile(LinkType.ETHERNET, [{ t: 1, data: withFcs }]);
    buf.writeUInt32LE(LinkType.ETHERNET | 0x04000000 | (2 << 28), 20); // FCS present, 2 x 16 bits
    writeFileSync(f, buf);
    const { seen } = await readAll(f);
    assert.equal(seen[0]!.caplen, withFcs.length - 4);
  });
});

describe('pcapng', () => {
  const ifaces = [
    { linktype: LinkType.ETHERNET, tsresol: 9 },
    { linktype: LinkType.LINUX_SLL2, tsresol: 0x80 | 20, tsoffset: 100 },
    { linktype: LinkType.RAW },
  ];
  const ngRecs = [
    { t: [1700000000, 123456789] as [number, number], data: syn(2001), iface: 0 },
    { t: [1700000000, 500000000] as [number, number], data: sll2(0x86dd, ipv6({ src: '2001:db8::1', dst: '2001:db8::2', nh: 17 }, udp(2002, 53))), iface: 1 },
    { t: [1700000002, 250000000] as [number, number], data: ipv4({ src: 1, dst: 2, proto: 1 }, icmp(8, 0, 0x00010001)), iface: 2 },
    { t: 0, data: syn(2004), spb: true },
  ];
  for (const bigEndian of [false, true]) {
    it(`reads several interfaces, link types and resolutions (${bigEndian ? 'big' : 'little'}-endian)`, async (t) => {
      const f = join(tempDir(t), 'x.pcapng');
      writeFileSync(f, pcapngFile(ifaces, ngRecs, { bigEndian, isb: [{ iface: 0, ifdrop: 3, osdrop: 5 }] }));
      const { seen, src } = await readAll(f);
      assert.equal(src.format, 'pcapng');
      assert.deepEqual(src.linktypes, [LinkType.ETHERNET, LinkType.LINUX_SLL2, LinkType.RAW]);
      assert.deepEqual(
        seen.map((s) => [s.iface, s.linktype, s.sec, s.nsec]),
        [
          [0, LinkType.ETHERNET, 1700000000, 123456789],
          [1, LinkType.LINUX_SLL2, 1700000000, 500000000], // 2^-20 s units, offset by if_tsoffset
          [2, LinkType.RAW, 1700000002, 250000000],
          [0, LinkType.ETHERNET, 1700000002, 250000000], // SPB: no timestamp, keeps the last
        ],
      );
      assert.ok(seen[0]!.flags & PF.TCP);
      assert.ok(seen[1]!.flags & PF.UDP);
      assert.ok(seen[2]!.flags & PF.ICMP4);
      assert.ok(seen[3]!.flags & PF.TCP);
      assert.equal(src.stats().kernelDrops, 5);
      assert.equal(src.stats().kernelIfDrops, 3);
    });
  }

  it('reads several sections with different byte orders', async (t) => {
    const f = join(tempDir(t), 'two.pcapng');
    const a = pcapngFile([{ linktype: LinkType.ETHERNET }], [{ t: 10, data: syn(1) }]);
    const b = pcapngFile([{ linktype: LinkType.RAW }], [{ t: 20, data: ipv4({ src: 1, dst: 2, proto: 17 }, udp(2, 3)) }], { bigEndian: true });
    writeFileSync(f, Buffer.concat([a, b]));
    const { seen } = await readAll(f);
    assert.deepEqual(
      seen.map((s) => [s.linktype, s.sec, s.sport]),
      [
        [LinkType.ETHERNET, 10, 1],
        [LinkType.RAW, 20, 2],
      ],
    );
  });

  it('rejects a block with a broken length, with its byte offset', async (t) => {
    const f = join(tempDir(t), 'bad.pcapng');
    const buf = pcapngFile([{ linktype: LinkType.ETHERNET }], [{ t: 1, data: syn(1) }, { t: 2, data: syn(2) }]);
    const shbLen = buf.readUInt32LE(4);
    const idbLen = buf.readUInt32LE(shbLen + 4);
    const epb2 = shbLen + idbLen + buf.readUInt32LE(shbLen + idbLen + 4);
    buf.writeUInt32LE(13, epb2 + 4);
    writeFileSync(f, buf);
    await assert.rejects(readAll(f), (e: unknown) => e instanceof PalisadeError && e.code === 'PAL_ERR_CAPTURE_CORRUPT' && e.message.includes(`byte ${epb2}`));
  });
});

describe('inputs', () => {
  it('rejects a file that is not a capture, a missing file and an empty file (exit 3)', (t) => {
    const d = tempDir(t);
    writeFileSync(join(d, 'text.pcap'), 'hello world, not a capture\n');
    writeFileSync(join(d, 'empty.pcap'), '');
    const a = palisade(['replay', '-q', join(d, 'text.pcap')]);
    assert.equal(a.code, 3);
    assert.match(a.stderr, /not a pcap or pcapng capture \(starts with 0x68656c6c.*\[PAL_ERR_CAPTURE_FORMAT\]/);
    const b = palisade(['replay', '-q', join(d, 'nope.pcap')]);
    assert.equal(b.code, 3);
    assert.match(b.stderr, /nope\.pcap: cannot read capture file: no such file \[PAL_ERR_CAPTURE_OPEN\]/);
    const c = palisade(['replay', '-q', join(d, 'empty.pcap')]);
    assert.equal(c.code, 3);
    assert.match(c.stderr, /empty input, not a capture/);
  });

  it('reads gzip-compressed captures', async (t) => {
    const f = join(tempDir(t), 'x.pcap.gz');
    writeFileSync(f, gzipSync(pcapFile(LinkType.ETHERNET, recs)));
    const { seen } = await readAll(f);
    assert.equal(seen.length, 3);
  });

  it('reads a stream on stdin, delivered in small pieces', async () => {
    const data = pcapngFile([{ linktype: LinkType.ETHERNET }], recs);
    const pieces = Array.from({ length: Math.ceil(data.length / 7) }, (_, i) => data.subarray(i * 7, i * 7 + 7));
    const { seen, src } = await readAll('-', { stdin: Readable.from(pieces) });
    assert.equal(src.name, '-');
    assert.deepEqual(seen.map((s) => s.sport), [1001, 1002, 1003]);
  });

  it('delivers every record when records straddle read boundaries', async (t) => {
    const d = tempDir(t);
    const f = join(d, 'gen.pcap');
    assert.equal(sh(`node ${GEN} ${f} 20000 3`).code, 0);
    const big = await readAll(f);
    for (const chunk of [64, 1000, 4096]) {
      const small = await readAll(f, { chunk });
      assert.equal(small.seen.length, 20000, `chunk ${chunk}`);
      assert.deepEqual(small.seen, big.seen, `chunk ${chunk}`);
    }
  });

  it('replays `tcpdump -w -` output from a pipe', (t) => {
    const d = tempDir(t);
    const f = join(d, 'gen.pcap');
    assert.equal(sh(`node ${GEN} ${f} 5000 4`).code, 0);
    const direct = replayJson([f]);
    const piped = sh(`tcpdump -r ${f} -w - 2>/dev/null | node ${join(GEN, '../../src/cli/main.js')} replay --json -q -`);
    assert.equal(piped.code, 0, piped.stderr);
    const s = JSON.parse(piped.stdout);
    assert.equal(s.packets, 5000);
    assert.deepEqual(s.decoder, direct.summary.decoder);
    assert.deepEqual(s.detections, direct.summary.detections);
  });
});

describe('defect 17: field-proof capture reading', () => {
  const ng = (bigEndian = false) => pcapngFile([{ linktype: LinkType.ETHERNET }], [{ t: 1, data: syn(1) }, { t: 2, data: syn(2) }], { bigEndian });
  /** A block of `len` bytes (header, zero body, trailer) of `type`. */
  const rawBlock = (type: number, len: number) => {
    const b = Buffer.alloc(len);
    b.writeUInt32LE(type, 0);
    b.writeUInt32LE(len, 4);
    b.writeUInt32LE(len, len - 4);
    return b;
  };
  const corruptAt = (at: number, re: RegExp) => (e: unknown) =>
    e instanceof PalisadeError && e.code === 'PAL_ERR_CAPTURE_CORRUPT' && e.message.includes(`byte ${at}:`) && re.test(e.message);

  it('defect 17: a pcapng block shorter than its type allows is CAPTURE_CORRUPT at its offset, at any read boundary', async (t) => {
    const d = tempDir(t);
    const head = ng();
    for (const [type, len, min] of [[6, 12, 32], [6, 28, 32], [2, 20, 32], [3, 12, 16], [1, 16, 20], [5, 20, 24]] as const) {
      const f = join(d, `short-${type}-${len}.pcapng`);
      writeFileSync(f, Buffer.concat([head, rawBlock(type, len), pcapngFile([{ linktype: 1 }], [{ t: 3, data: syn(3) }]).subarray(28)]));
      for (const chunk of [undefined, head.length + 8, head.length + 4, 64]) {
        let delivered = 0;
        const src = new FileSource(f, undefined, chunk);
        await assert.rejects(
          src.run(new Packet(), () => delivered++),
          corruptAt(head.length, new RegExp(`invalid length ${len} \\(at least ${min}\\)`)),
          `type ${type} length ${len} chunk ${chunk}`,
        );
        assert.equal(delivered, 2, 'the packets before the short block are delivered');
      }
    }
  });

  it('defect 17: impossible timestamps are counted once per file and keep the previous time', async (t) => {
    const d = tempDir(t);
    // µs stamps at and past 8.64e18 (beyond Date), a negative if_tsoffset, and pcap's carry past 2^32 s.
    const f1 = join(d, 'far.pcapng');
    writeFileSync(f1, pcapngFile([{ linktype: 1 }], [{ t: 1000, data: syn(1) }, { t: [8.64e12, 0], data: syn(2) }, { t: [9e12, 0], data: syn(3) }, { t: 1001, data: syn(4) }]));
    const a = await readAll(f1);
    assert.deepEqual(a.seen.map((s) => s.sec), [1000, 1000, 1000, 1001]);
    assert.equal(a.src.stats().badTimestamps, 2);
    assert.equal(a.src.warnings.filter((w) => /impossible timestamp/.test(w)).length, 1);
    assert.match(a.src.warnings[0]!, /byte \d+: packet 2 has an impossible timestamp/);

    const f2 = join(d, 'negative.pcapng');
    const neg = pcapngFile([{ linktype: 1, tsoffset: 0 }], [{ t: 5, data: syn(1) }]);
    const opt = neg.indexOf(Buffer.from([14, 0, 8, 0])); // if_tsoffset option, little-endian
    neg.writeInt32LE(-1, opt + 8); // high word: about -2^32 s
    writeFileSync(f2, neg);
    const b = await readAll(f2);
    assert.deepEqual(b.seen.map((s) => [s.sec, s.nsec]), [[0, 0]], 'no earlier packet: time 0');
    assert.equal(b.src.stats().badTimestamps, 1);

    const f3 = join(d, 'carry.pcap');
    const pc = pcapFile(1, [{ t: 7, data: syn(1) }, { t: 8, data: syn(2) }]);
    pc.writeUInt32LE(0xffffffff, 24 + 16 + syn(1).length); // sec
    pc.writeUInt32LE(0xffffffff, 24 + 16 + syn(1).length + 4); // usec: carries past 2^32 s
    writeFileSync(f3, pc);
    const c = await readAll(f3);
    assert.deepEqual(c.seen.map((s) => s.sec), [7, 7]);
    assert.equal(c.src.stats().badTimestamps, 1);

    // The whole replay goes on: no RangeError from the policy, exit 0.
    const r = replayJson([f1, f2, f3]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.summary.packets, 7);
  });

  it('defect 17: an if_tsresol beyond 2^63 units is ignored with a warning (microseconds kept)', async (t) => {
    const d = tempDir(t);
    for (const tsresol of [0x7f, 0x80 | 64, 0xff]) {
      const f = join(d, `res-${tsresol}.pcapng`);
      // Written at µs so that the default reads them back exactly.
      const buf = pcapngFile([{ linktype: 1, tsresol: 6 }], [{ t: [1700000000, 5000], data: syn(1) }]);
      buf[buf.indexOf(Buffer.from([9, 0, 1, 0, 6])) + 4] = tsresol;
      writeFileSync(f, buf);
      const { seen, src } = await readAll(f);
      assert.deepEqual(seen.map((s) => [s.sec, s.nsec]), [[1700000000, 5000]]);
      assert.match(src.warnings.join('\n'), new RegExp(`if_tsresol 0x${tsresol.toString(16)} is not a usable resolution; microseconds assumed`));
    }
  });

  it('defect 17: an error thrown by onPacket or onChunk propagates unchanged (a bug, not a bad file)', async (t) => {
    const f = join(tempDir(t), 'x.pcap');
    writeFileSync(f, pcapFile(1, recs));
    const bug = new TypeError('a bug in decode');
    await assert.rejects(
      new FileSource(f).run(new Packet(), () => {
        throw bug;
      }),
      (e: unknown) => e === bug,
    );
    await assert.rejects(
      new FileSource(f).run(
        new Packet(),
        () => {},
        () => {
          throw bug;
        },
      ),
      (e: unknown) => e === bug,
    );
  });

  it('defect 17: gzip faults deliver every packet first, then CAPTURE_CORRUPT at the compressed offset', async (t) => {
    const d = tempDir(t);
    const f = join(d, 'gen.pcap');
    assert.equal(sh(`node ${GEN} ${f} 3000 5`).code, 0);
    const gz = gzipSync(readFileSync(f));
    const cases: [string, Buffer, RegExp, number][] = [
      ['crc', Buffer.from(gz).fill(0x55, gz.length - 8, gz.length - 7), /CRC mismatch/, gz.length - 8],
      ['isize', Buffer.from(gz).fill(0x55, gz.length - 2, gz.length - 1), /length mismatch/, gz.length - 4],
      ['garbage', Buffer.concat([gz, Buffer.from('trailing garbage')]), /other data follows the end of the gzip stream/, gz.length],
    ];
    for (const [name, data, re, at] of cases) {
      const g = join(d, `${name}.pcap.gz`);
      writeFileSync(g, data);
      let n = 0;
      await assert.rejects(
        new FileSource(g).run(new Packet(), () => n++),
        (e: unknown) => e instanceof PalisadeError && e.code === 'PAL_ERR_CAPTURE_CORRUPT' && e.message.includes(`the gzip data is corrupt at compressed byte ${at}: `) && re.test(e.message),
        name,
      );
      assert.equal(n, 3000, `${name}: every packet before the fault`);
      const r = replayJson([g]);
      assert.equal(r.code, 3);
      assert.equal(r.summary.packets, 3000);
      assert.match(r.stderr, /\[PAL_ERR_CAPTURE_CORRUPT\]/);
      assert.doesNotMatch(r.stderr, /PAL_ERR_CAPTURE_OPEN|\n {4}at /);
    }
  });

  it('defect 17: gzip on stdin is decompressed', async (t) => {
    const data = gzipSync(pcapngFile([{ linktype: LinkType.ETHERNET }], recs));
    const pieces = [data.subarray(0, 1), data.subarray(1, 5), data.subarray(5)];
    const { seen } = await readAll('-', { stdin: Readable.from(pieces) });
    assert.deepEqual(seen.map((s) => s.sport), [1001, 1002, 1003]);
    const r = replayJson(['-'], { input: gzipSync(pcapFile(1, recs)) });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.summary.packets, 3);
    void t;
  });

  it('defect 17: a file that ends early is a warning and exit 0 in every format, gzip included', (t) => {
    const d = tempDir(t);
    const pcap = pcapFile(1, recs);
    const png = pcapngFile([{ linktype: 1 }], recs);
    const files: [string, Buffer][] = [
      ['cut.pcap', pcap.subarray(0, pcap.length - 10)],
      ['cut.pcapng', png.subarray(0, png.length - 10)],
      ['cut-trailer.pcap.gz', gzipSync(pcap).subarray(0, -8)],
      ['cut-mid.pcap.gz', (() => {
        const z = gzipSync(pcap);
        return z.subarray(0, z.length - 30);
      })()],
    ];
    for (const [name, data] of files) {
      const f = join(d, name);
      writeFileSync(f, data);
      const r = replayJson([f]);
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      assert.ok(r.summary.packets >= 1, name);
      assert.match(r.stderr, /the capture was probably stopped while writing/, name);
    }
  });

  it('defect 17: an unknown link type is warned about once per file, with its packet count', async (t) => {
    const d = tempDir(t);
    const f1 = join(d, 'lt147.pcap');
    writeFileSync(f1, pcapFile(147, recs));
    const a = await readAll(f1);
    assert.deepEqual(a.src.warnings, [`${f1}: link type 147 is not decoded; its 3 packets are counted but not inspected`]);
    const f2 = join(d, 'lt147.pcapng');
    writeFileSync(f2, pcapngFile([{ linktype: 147 }, { linktype: 1 }, { linktype: 147 }], recs.map((r, i) => ({ ...r, iface: i }))));
    const b = await readAll(f2);
    assert.deepEqual(b.src.warnings, [`${f2}: link type 147 is not decoded; its 2 packets are counted but not inspected`]);
    const r = replayJson([f1]);
    assert.equal(r.code, 0);
    assert.match(r.stderr, /warning: .*link type 147 is not decoded; its 3 packets are counted but not inspected/);
  });

  it('defect 17: a missing file is CAPTURE_OPEN "no such file", a directory "is a directory"', async (t) => {
    const d = tempDir(t);
    await assert.rejects(
      new FileSource(join(d, 'nope.pcap')).run(new Packet(), () => {}),
      (e: unknown) => e instanceof PalisadeError && e.code === 'PAL_ERR_CAPTURE_OPEN' && /nope\.pcap: cannot read capture file: no such file/.test(e.message),
    );
    await assert.rejects(
      new FileSource(d).run(new Packet(), () => {}),
      (e: unknown) => e instanceof PalisadeError && e.code === 'PAL_ERR_CAPTURE_OPEN' && /is a directory/.test(e.message),
    );
  });
});

describe('live capture: drop accounting', () => {
  it('weighs kernel and ring drops per interval against what the kernel saw; 0.1% is the line', () => {
    const w = new DropWatch();
    const s = emptyCaptureStats();
    assert.equal(w.observe(s), null);
    assert.equal(w.lossy(), false);
    Object.assign(s, { kernelPackets: 1_000_000, kernelDrops: 600, ringDrops: 400 });
    assert.deepEqual(w.observe(s), { seen: 1_000_000, kernelDrops: 600, ringDrops: 400, ratio: 0.001 });
    assert.equal(w.lossy(), false, 'exactly 0.1% is not over it');
    Object.assign(s, { kernelPackets: 2_000_000, kernelDrops: 1200, ringDrops: 401 });
    assert.equal(w.observe(s)!.ringDrops, 1);
    assert.equal(w.lossy(), false);
    Object.assign(s, { kernelPackets: 2_001_000, ringDrops: 403 });
    w.observe(s);
    assert.ok(w.lossy(), '2 lost of 1,000 is over 0.1%');
    assert.equal(describeLoss(w.last!, 10), "0.20% of packets lost in the last 10 s (0 by the kernel, 2 by Palisade's ring)");
    // An interval that saw nothing but lost something is all loss; an idle one is none.
    Object.assign(s, { ringDrops: 404 });
    assert.equal(w.observe(s)!.ratio, 1);
    assert.equal(w.observe(s)!.ratio, 0);
  });
});
