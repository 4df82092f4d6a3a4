// Capture-file fuzzing: builds a seed corpus (pcap in both byte orders and resolutions, raw-IP
// pcap, pcapng with several interfaces, if_tsresol / if_tsoffset, EPB, SPB, PB and ISB, two
// sections, and gzip around them), mutates packets and file structure, and replays each batch of
// mutated files through the real CLI in a child process. A crash is an exit other than 0 or 3, a
// JS stack trace, PAL_ERR_CAPTURE_OPEN on a readable file, a run over 120 s (a hang), or a
// replay whose summary differs when repeated. Crashing inputs are saved under --out.
//
// Usage: npm run fuzz -- --minutes N [--seed S] [--out DIR] [--jobs J]

import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { pcapFile, pcapngFile, rng, type NgIface, type Rec } from './craft.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const GEN = fileURLToPath(new URL('./gen-capture.js', import.meta.url));
/** A replay slower than this is a hang. */
const HANG_MS = 120_000;
/** Summary fields that measure the run, not the input. */
const TIMING = new Set(['seconds', 'pps', 'peak_rss_bytes']);

export interface FuzzOptions {
  seconds: number;
  seed: number;
  out: string;
  /** Replays run at once. */
  jobs?: number;
  /** Mutated files per replay process. */
  batch?: number;
  /** Packets in the generated seed capture. */
  seedPackets?: number;
  log?: (line: string) => void;
}

export interface FuzzReport {
  files: number;
  packets: number;
  crashes: number;
  hangs: number;
  nondeterministic: number;
  findings: string[];
}

interface Seed {
  name: string;
  data: Buffer;
  gzip: boolean;
}

type Rand = () => number;

/** Where the records and blocks of a seed are, so mutations can aim at them. */
interface Layout {
  kind: 'pcap' | 'pcapng';
  /** Per record: header offset, data offset, data length, offset of the caplen field, little-endian. */
  recs: { hdr: number; data: number; len: number; lenOff: number; tsOff: number; le: boolean; block: number }[];
  /** pcapng blocks: offset, length, little-endian. */
  blocks: { off: number; len: number; le: boolean; type: number }[];
  /** pcapng IDB option values: offset, code. */
  opts: { off: number; code: number; le: boolean }[];
}

function layout(b: Buffer): Layout {
  const L: Layout = { kind: 'pcap', recs: [], blocks: [], opts: [] };
  if (b.length < 24) return L;
  if (b.readUInt32LE(0) === 0x0a0d0d0a) {
    L.kind = 'pcapng';
    let le = true;
    for (let o = 0; o + 12 <= b.length; ) {
      if (b.readUInt32LE(o) === 0x0a0d0d0a) le = b.readUInt32LE(o + 8) === 0x1a2b3c4d;
      const r32 = (x: number): number => (le ? b.readUInt32LE(x) : b.readUInt32BE(x));
      const type = r32(o);
      const len = r32(o + 4);
      if (len < 12 || o + len > b.length) break;
      L.blocks.push({ off: o, len, le, type });
      if (type === 6 || type === 2) L.recs.push({ hdr: o, data: o + 28, len: r32(o + 20), lenOff: o + 20, tsOff: o + 12, le, block: o });
      else if (type === 3) L.recs.push({ hdr: o, data: o + 12, len: len - 16, lenOff: o + 8, tsOff: -1, le, block: o });
      else if (type === 1) {
        for (let p = o + 16; p + 4 <= o + len - 4; ) {
          const code = le ? b.readUInt16LE(p) : b.readUInt16BE(p);
          const olen = le ? b.readUInt16LE(p + 2) : b.readUInt16BE(p + 2);
          if (code === 0) break;
          L.opts.push({ off: p + 4, code, le });
          p += 4 + ((olen + 3) & ~3);
        }
      }
      o += len;
    }
    return L;
  }
  const le = b.readUInt32LE(0) === 0xa1b2c3d4 || b.readUInt32LE(0) === 0xa1b23c4d;
  for (let o = 24; o + 16 <= b.length; ) {
    const len = le ? b.readUInt32LE(o + 8) : b.readUInt32BE(o + 8);
    if (o + 16 + len > b.length) break;
    L.recs.push({ hdr: o, data: o + 16, len, lenOff: o + 8, tsOff: o, le, block: -1 });
    o += 16 + len;
  }
  return L;
}

const EDGE32 = [0, 1, 2, 3, 4, 8, 11, 12, 15, 16, 19, 20, 23, 24, 27, 28, 31, 32, 0x7f, 0x80, 0xff, 0xffff, 0x10000, 0x40000, 0x40001, 0x100000, 0x100004, 0x7fffffff, 0x80000000, 0xfffffffc, 0xffffffff];
const EDGE8 = [0, 1, 0x0f, 0x10, 0x3f, 0x40, 0x45, 0x46, 0x4f, 0x60, 0x7f, 0x80, 0xfe, 0xff];
const LINKTYPES = [0, 1, 9, 12, 14, 101, 108, 113, 147, 228, 229, 276, 0xffff];

function pick<T>(r: Rand, a: readonly T[]): T {
  return a[Math.floor(r() * a.length)]!;
}

function int(r: Rand, n: number): number {
  return Math.floor(r() * n);
}

function w32(b: Buffer, o: number, v: number, le: boolean): void {
  if (o < 0 || o + 4 > b.length) return;
  if (le) b.writeUInt32LE(v >>> 0, o);
  else b.writeUInt32BE(v >>> 0, o);
}

function randomBytes(r: Rand, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = int(r, 256);
  return b;
}

type Mutator = (b: Buffer, L: Layout, r: Rand) => Buffer;

/** Mutations of packet contents; the file structure stays valid. */
const PACKET: Mutator[] = [
  // Byte flips and interesting values, mostly in the link, IP and transport headers.
  (b, L, r) => {
    for (let k = 1 + int(r, 32); k > 0; k--) {
      const rec = pick(r, L.recs);
      if (!rec || rec.len === 0) continue;
      const at = rec.data + (r() < 0.8 ? int(r, Math.min(rec.len, 80)) : int(r, rec.len));
      b[at] = r() < 0.5 ? b[at]! ^ (1 << int(r, 8)) : pick(r, EDGE8);
    }
    return b;
  },
  // Garbage over a span of a packet.
  (b, L, r) => {
    for (let k = 1 + int(r, 8); k > 0; k--) {
      const rec = pick(r, L.recs);
      if (!rec || rec.len === 0) continue;
      const from = int(r, rec.len);
      randomBytes(r, 1 + int(r, rec.len - from)).copy(b, rec.data + from);
    }
    return b;
  },
  // Inserted garbage inside a packet, its length fields updated (a longer, still valid record).
  (b, L, r) => {
    const rec = pick(r, L.recs);
    if (!rec || rec.len === 0) return b;
    const n = 4 * (1 + int(r, 64));
    const at = rec.data + int(r, rec.len);
    const out = Buffer.concat([b.subarray(0, at), randomBytes(r, n), b.subarray(at)]);
    w32(out, rec.lenOff, rec.len + n, rec.le);
    if (L.kind === 'pcap') w32(out, rec.lenOff + 4, rec.len + n, rec.le);
    else {
      const blk = L.blocks.find((x) => x.off === rec.block)!;
      w32(out, blk.off + 4, blk.len + n, rec.le);
      w32(out, blk.off + blk.len + n - 4, blk.len + n, rec.le);
      if (rec.tsOff >= 0) w32(out, rec.lenOff + 4, rec.len + n, rec.le);
    }
    return out;
  },
  // Every packet of a stretch gets the same flip: many mutated packets per file.
  (b, L, r) => {
    const off = int(r, 64);
    const v = pick(r, EDGE8);
    for (const rec of L.recs) if (rec.len > off && r() < 0.5) b[rec.data + off] = v;
    return b;
  },
];

/** Mutations of the file structure: lengths, headers, options, timestamps, cuts. */
const STRUCTURE: Mutator[] = [
  // A record's captured length.
  (b, L, r) => {
    const rec = pick(r, L.recs);
    if (rec) w32(b, rec.lenOff, r() < 0.5 ? pick(r, EDGE32) : rec.len + int(r, 9) - 4, rec.le);
    return b;
  },
  // A record's timestamp, to extremes.
  (b, L, r) => {
    for (let k = 1 + int(r, 4); k > 0; k--) {
      const rec = pick(r, L.recs);
      if (!rec || rec.tsOff < 0) continue;
      w32(b, rec.tsOff + (r() < 0.5 ? 0 : 4), pick(r, EDGE32), rec.le);
    }
    return b;
  },
  // A pcapng block length (leading, trailing or both).
  (b, L, r) => {
    const blk = pick(r, L.blocks);
    if (!blk) return b;
    const v = r() < 0.6 ? pick(r, EDGE32) : blk.len + 4 * (int(r, 9) - 4);
    const which = int(r, 3);
    if (which !== 1) w32(b, blk.off + 4, v, blk.le);
    if (which !== 0) w32(b, blk.off + blk.len - 4, v, blk.le);
    return b;
  },
  // IDB options: if_tsresol and if_tsoffset extremes, and the other options' bytes.
  (b, L, r) => {
    const o = pick(r, L.opts);
    if (!o) return b;
    if (o.code === 9) b[o.off] = pick(r, [0, 1, 6, 9, 18, 19, 20, 63, 64, 0x7f, 0x80, 0x81, 0x9e, 0xbf, 0xc0, 0xff]);
    else if (o.code === 14) {
      w32(b, o.off, pick(r, EDGE32), o.le);
      w32(b, o.off + 4, pick(r, EDGE32), o.le);
    } else b[o.off] = int(r, 256);
    return b;
  },
  // Link type, snaplen, FCS bits, versions: the pcap header or an IDB.
  (b, L, r) => {
    if (L.kind === 'pcap') {
      const le = b.readUInt32LE(0) === 0xa1b2c3d4 || b.readUInt32LE(0) === 0xa1b23c4d;
      if (r() < 0.6) w32(b, 20, pick(r, LINKTYPES) | (r() < 0.2 ? 0x04000000 | (int(r, 16) << 28) : 0), le);
      else w32(b, 16, pick(r, EDGE32), le);
      return b;
    }
    const idb = pick(
      r,
      L.blocks.filter((x) => x.type === 1),
    );
    if (idb) {
      if (r() < 0.6) {
        if (idb.le) b.writeUInt16LE(pick(r, LINKTYPES), idb.off + 8);
        else b.writeUInt16BE(pick(r, LINKTYPES), idb.off + 8);
      } else w32(b, idb.off + 12, pick(r, EDGE32), idb.le);
    }
    return b;
  },
  // The magic, the byte-order mark, a block type.
  (b, L, r) => {
    if (L.kind === 'pcapng' && r() < 0.7) {
      const blk = pick(r, L.blocks);
      if (blk) w32(b, blk.off + (blk.type === 0x0a0d0d0a && r() < 0.5 ? 8 : 0), pick(r, [0, 1, 2, 3, 4, 5, 6, 7, 0x0a0d0d0a, 0x1a2b3c4d, 0x4d3c2b1a, int(r, 2 ** 32)]), blk.le);
    } else b[int(r, 4)] ^= 1 << int(r, 8);
    return b;
  },
  // Cut short, anywhere or just inside a record.
  (b, L, r) => {
    const rec = pick(r, L.recs);
    const at = rec && r() < 0.5 ? rec.hdr + int(r, 32) : int(r, b.length);
    return b.subarray(0, Math.min(at, b.length));
  },
  // Garbage appended, or a stretch duplicated.
  (b, _L, r) => {
    if (r() < 0.5) return Buffer.concat([b, randomBytes(r, 1 + int(r, 64))]);
    const from = int(r, b.length);
    const to = from + int(r, Math.min(4096, b.length - from));
    return Buffer.concat([b.subarray(0, to), b.subarray(from, to), b.subarray(to)]);
  },
];

/** Damage to the gzip layer itself. */
const GZIP: Mutator[] = [
  (b, _L, r) => {
    b[3] = int(r, 256); // flags: FEXTRA, FNAME, FCOMMENT, FHCRC in any combination
    return b;
  },
  (b, _L, r) => {
    b[b.length - 1 - int(r, 8)] ^= 1 << int(r, 8); // CRC or ISIZE
    return b;
  },
  (b, _L, r) => b.subarray(0, b.length - 1 - int(r, r() < 0.5 ? 12 : b.length - 1)),
  (b, _L, r) => Buffer.concat([b, r() < 0.5 ? randomBytes(r, 1 + int(r, 32)) : Buffer.alloc(1 + int(r, 32))]),
  (b, _L, r) => {
    for (let k = 1 + int(r, 3); k > 0; k--) b[10 + int(r, b.length - 18)] ^= 1 << int(r, 8);
    return b;
  },
  (b, _L, r) => {
    b[2] = r() < 0.5 ? 8 : int(r, 256); // method
    return b;
  },
];

/** Builds the seed corpus from a generated capture and tools/craft.ts. */
function seeds(dir: string, packets: number, seed: number): Seed[] {
  const base = join(dir, 'base.pcap');
  const g = spawnSync(process.execPath, [GEN, base, String(packets), String(seed)]);
  if (g.status !== 0) throw new Error(`gen-capture failed: ${g.stderr}`);
  const raw = readFileSync(base);
  const recs: Rec[] = [];
  for (let o = 24; o + 16 <= raw.length; ) {
    const len = raw.readUInt32LE(o + 8);
    recs.push({ t: [raw.readUInt32LE(o), raw.readUInt32LE(o + 4) * 1000], data: raw.subarray(o + 16, o + 16 + len) });
    o += 16 + len;
  }
  const few = recs.slice(0, Math.min(recs.length, 3000));
  const ifaces: NgIface[] = [
    { linktype: 1 },
    { linktype: 1, tsresol: 9, tsoffset: 1000 },
    { linktype: 1, tsresol: 0x80 | 20, snaplen: 1600 },
    { linktype: 101, tsresol: 3 },
  ];
  const ngRecs = few.map((x, i) => {
    const iface = i % 4;
    if (iface === 3) return { ...x, data: x.data.subarray(14), iface };
    return { ...x, iface, spb: i % 23 === 5 };
  });
  const ng = pcapngFile(ifaces, ngRecs, { isb: [{ iface: 0, ifdrop: 3, osdrop: 5 }] });
  // Every 7th enhanced packet block becomes an obsolete packet block (same layout in little-endian).
  const L = layout(ng);
  L.blocks.filter((x) => x.type === 6).forEach((x, i) => i % 7 === 3 && ng.writeUInt32LE(2, x.off));
  const ngBe = pcapngFile(ifaces.slice(0, 2), few.slice(0, 600).map((x, i) => ({ ...x, iface: i % 2 })), { bigEndian: true });
  const pcap = pcapFile(1, recs);
  const out: Seed[] = [
    { name: 'pcap-le-us', data: pcap, gzip: false },
    { name: 'pcap-be-ns', data: pcapFile(1, few, { bigEndian: true, nanos: true }), gzip: false },
    { name: 'pcap-raw', data: pcapFile(101, few.map((x) => ({ ...x, data: x.data.subarray(14) }))), gzip: false },
    { name: 'pcapng-le', data: ng, gzip: false },
    { name: 'pcapng-two-sections', data: Buffer.concat([ng, ngBe]), gzip: false },
    { name: 'pcapng-be', data: ngBe, gzip: false },
    { name: 'pcap-le-us', data: pcap, gzip: true },
    { name: 'pcapng-le', data: ng, gzip: true },
  ];
  return out;
}

/** One mutated file from a seed: 1-3 packet or structure mutations, then gzip damage if gzipped. */
function mutate(s: Seed, r: Rand): { data: Buffer; how: string } {
  let b: Buffer = Buffer.from(s.data);
  const how: string[] = [s.name + (s.gzip ? '.gz' : '')];
  for (let k = 1 + int(r, 3); k > 0; k--) {
    const L = layout(b);
    const structural = r() < 0.3;
    const list = structural ? STRUCTURE : PACKET;
    const i = int(r, list.length);
    how.push(`${structural ? 's' : 'p'}${i}`);
    b = list[i]!(b, L, r);
  }
  if (s.gzip) {
    b = gzipSync(b, { level: 1 });
    if (r() < 0.5) {
      const i = int(r, GZIP.length);
      how.push(`g${i}`);
      b = GZIP[i]!(b, { kind: 'pcap', recs: [], blocks: [], opts: [] }, r);
    }
  }
  return { data: b, how: how.join('+') };
}

interface RunResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function replay(files: string[], stdin?: Buffer): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'replay', '--json', '-q', ...(stdin ? ['-'] : files)], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, HANG_MS);
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.stdin.on('error', () => {});
    child.stdin.end(stdin ?? Buffer.alloc(0));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), timedOut });
    });
  });
}

/** Why a run counts as a crash, or null; `summary` is the parsed JSON when there is one. */
function verdict(res: RunResult): { why: string | null; summary: any } {
  let summary: any = null;
  try {
    summary = JSON.parse(res.stdout);
  } catch {
    /* judged below */
  }
  if (res.timedOut) return { why: `hang (over ${HANG_MS / 1000} s)`, summary };
  if (res.code !== 0 && res.code !== 3) return { why: `exit ${res.code ?? res.signal}`, summary };
  if (res.stderr.includes('\n    at ')) return { why: 'JS stack trace on stderr', summary };
  // Nothing could be read from any input: replay prints only the error (exit 3), no summary.
  if (summary === null && res.code === 3 && /\[PAL_ERR_CAPTURE_(FORMAT|CORRUPT)\]/.test(res.stderr)) return { why: null, summary };
  if (summary === null) return { why: 'no JSON summary on stdout', summary };
  const open = (summary.files as { error: { code: string } | null }[]).find((f) => f.error?.code === 'PAL_ERR_CAPTURE_OPEN');
  if (open) return { why: 'PAL_ERR_CAPTURE_OPEN on a readable file', summary };
  return { why: null, summary };
}

function comparable(summary: any): string {
  return JSON.stringify(summary, (k, v) => (TIMING.has(k) ? undefined : v));
}

export async function fuzz(o: FuzzOptions): Promise<FuzzReport> {
  const log = o.log ?? (() => {});
  const jobs = o.jobs ?? 2;
  const batch = o.batch ?? 32;
  const work = mkdtempSync(join(tmpdir(), 'palisade-fuzz-'));
  const report: FuzzReport = { files: 0, packets: 0, crashes: 0, hangs: 0, nondeterministic: 0, findings: [] };
  let saved = 0;
  const save = (why: string, files: { path: string; how: string }[], stderr: string): void => {
    mkdirSync(o.out, { recursive: true });
    const id = `crash-${o.seed}-${++saved}`;
    files.forEach((f, i) => writeFileSync(join(o.out, `${id}${files.length > 1 ? `-${i}` : ''}.cap`), readFileSync(f.path)));
    writeFileSync(join(o.out, `${id}.txt`), `${why}\n${files.map((f) => f.how).join('\n')}\n\n${stderr}`);
    report.findings.push(`${why}: ${files.map((f) => f.how).join(', ')} -> ${join(o.out, id)}`);
    log(`fuzz: ${why} (${files.map((f) => f.how).join(', ')}) saved as ${join(o.out, id)}`);
  };
  try {
    const corpus = seeds(work, o.seedPackets ?? 6000, o.seed);
    const r = rng(o.seed);
    const deadline = Date.now() + o.seconds * 1000;
    let batchNo = 0;
    const worker = async (w: number): Promise<void> => {
      const dir = join(work, `w${w}`);
      mkdirSync(dir, { recursive: true });
      while (Date.now() < deadline) {
        const n = batchNo++;
        const files: { path: string; how: string }[] = [];
        for (let i = 0; i < batch; i++) {
          const m = mutate(pick(r, corpus), r);
          const path = join(dir, `${n}-${i}.cap`);
          writeFileSync(path, m.data);
          files.push({ path, how: m.how });
        }
        // Now and then the first file goes through stdin instead (gzip and pcap streams).
        const viaStdin = n % 16 === 7;
        const res = viaStdin ? await replay([], readFileSync(files[0]!.path)) : await replay(files.map((f) => f.path));
        const v = verdict(res);
        const judged = viaStdin ? files.slice(0, 1) : files;
        report.files += judged.length;
        if (v.summary) report.packets += (v.summary.files as { packets: number }[]).reduce((a, f) => a + f.packets, 0);
        if (v.why !== null) {
          if (v.why.startsWith('hang')) report.hangs++;
          else report.crashes++;
          // Attribute it: file by file; the batch as a whole when no single file fails.
          let found = false;
          if (judged.length > 1) {
            for (const f of judged) {
              const one = verdict(await replay([f.path]));
              if (one.why !== null) {
                save(one.why, [f], (await replay([f.path])).stderr);
                found = true;
              }
            }
          }
          if (!found) save(v.why, judged, res.stderr);
        } else if (n % 8 === 3) {
          const again = verdict(viaStdin ? await replay([], readFileSync(files[0]!.path)) : await replay(files.map((f) => f.path)));
          if (again.summary === null || comparable(again.summary) !== comparable(v.summary)) {
            report.nondeterministic++;
            save('nondeterministic replay (summaries differ)', judged, '');
          }
        }
        for (const f of files) rmSync(f.path, { force: true });
      }
    };
    await Promise.all(Array.from({ length: jobs }, (_, w) => worker(w)));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return report;
}

export function reportLine(r: FuzzReport): string {
  return `fuzz: files ${r.files}, mutated packets ${r.packets}, crashes ${r.crashes}, hangs ${r.hangs}, nondeterministic ${r.nondeterministic}`;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string, dflt: string): string => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt;
  };
  const minutes = Number(opt('minutes', '1'));
  const seed = Number(opt('seed', String(Date.now() % 1_000_000)));
  const jobs = Number(opt('jobs', '2'));
  if (!(minutes > 0) || !Number.isInteger(seed) || !(jobs >= 1)) {
    process.stderr.write('usage: npm run fuzz -- --minutes N [--seed S] [--out DIR] [--jobs J]\n');
    process.exit(2);
  }
  const out = opt('out', 'bench/out/fuzz');
  process.stderr.write(`fuzz: seed ${seed}, ${minutes} min, ${jobs} jobs, crashes go to ${out}\n`);
  const t0 = Date.now();
  const r = await fuzz({ seconds: minutes * 60, seed, out, jobs, log: (l) => process.stderr.write(`${l}\n`) });
  process.stdout.write(`${reportLine(r)} (${((Date.now() - t0) / 1000).toFixed(0)} s, seed ${seed})\n`);
  process.exitCode = r.crashes + r.hangs + r.nondeterministic > 0 ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
