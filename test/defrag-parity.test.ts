// Reassembly matches tshark: each capture in test/data/defrag/ (nmap -f, -f -f, --mtu, fragmented
// IPv4 and IPv6 pings, recorded between two namespaces: see the README there) is replayed through
// FileSource, Decoder and Defrag, and the frames where a datagram completes, its fragment count
// and the reassembled TCP flags and ICMP types equal what `tshark -o ip.defragment:TRUE -o
// ipv6.defragment:TRUE` shows for the frames that carry a reassembly (`ip.fragments` /
// `ipv6.fragments`). Skipped when tshark is absent.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { FileSource } from '../src/capture/file-source.js';
import { PF, Packet } from '../src/core/packet.js';
import { Decoder } from '../src/decode/decoder.js';
import { Defrag } from '../src/defrag/defrag.js';

/** test/data/defrag beside the built test (dist/test), or under the working directory. */
function dataDir(): string {
  const beside = fileURLToPath(new URL('../../test/data/defrag/', import.meta.url));
  return existsSync(beside) ? beside : join(process.cwd(), 'test', 'data', 'defrag');
}

const DIR = dataDir();
const FILES = existsSync(DIR) ? readdirSync(DIR).filter((f) => f.endsWith('.pcap')).sort() : [];
const TSHARK = spawnSync('tshark', ['-v'], { stdio: 'ignore' }).error === undefined;

/** One reassembled datagram: the frame that completed it, its fragments, and what it carries. */
interface Rebuilt {
  frame: number;
  frags: number;
  proto: string;
  tcpFlags: number;
  icmpType: number;
}

function tshark(file: string): Rebuilt[] {
  const fields = ['frame.number', 'ip.fragment.count', 'ipv6.fragment.count', 'tcp.flags', 'icmp.type', 'icmpv6.type'];
  const r = spawnSync(
    'tshark',
    ['-n', '-r', file, '-o', 'ip.defragment:TRUE', '-o', 'ipv6.defragment:TRUE', '-Y', 'ip.fragments || ipv6.fragments', '-T', 'fields', '-E', 'separator=/t', ...fields.flatMap((f) => ['-e', f])],
    { encoding: 'utf8', maxBuffer: 64 << 20 },
  );
  assert.equal(r.status, 0, `tshark on ${file}: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [frame, c4, c6, tf, it4, it6] = l.split('\t');
      const tcpFlags = tf ? parseInt(tf, 16) & 0xff : -1;
      const icmpType = it4 ? Number(it4) : it6 ? Number(it6) : -1;
      return { frame: Number(frame), frags: Number(c4 || c6), proto: tf ? 'tcp' : it4 ? 'icmp' : it6 ? 'icmpv6' : 'other', tcpFlags, icmpType };
    });
}

async function ours(file: string): Promise<{ rebuilt: Rebuilt[]; frames: number; decoder: Record<string, number>; split: number }> {
  const d = new Decoder();
  const df = new Defrag(d);
  const p = new Packet();
  const src = new FileSource(file);
  const rebuilt: Rebuilt[] = [];
  let frames = 0;
  let split = 0;
  await src.run(p, () => {
    frames++;
    d.decode(p);
    if ((p.flags & PF.FRAG) === 0 || !df.push(p, p.tsSec + p.tsNsec / 1e9)) return;
    const tcp = (p.flags & PF.TCP) !== 0;
    const icmp = (p.flags & (PF.ICMP4 | PF.ICMP6)) !== 0;
    if (p.flags & PF.L4_SPLIT) split++;
    rebuilt.push({
      frame: frames,
      frags: p.fragCount,
      proto: tcp ? 'tcp' : (p.flags & PF.ICMP4) !== 0 ? 'icmp' : (p.flags & PF.ICMP6) !== 0 ? 'icmpv6' : 'other',
      tcpFlags: tcp ? p.tcpFlags : -1,
      icmpType: icmp ? p.icmpType : -1,
    });
  });
  const st = df.stats();
  assert.equal(st.reassembled, rebuilt.length);
  assert.equal(st.trackers, 0, `${file}: every datagram in these captures completes`);
  return { rebuilt, frames, decoder: d.stats.counters.toFlat(true), split };
}

describe('reassembly matches tshark on real captures', () => {
  it('the captures are there', () => {
    assert.ok(FILES.length >= 6, `captures in ${DIR}: ${FILES.join(', ')}`);
  });

  for (const name of FILES) {
    it(name, { skip: TSHARK ? false : 'tshark is not installed (apt-get install tshark)' }, async () => {
      const file = join(DIR, name);
      const theirs = tshark(file);
      const mine = await ours(file);
      assert.deepEqual(mine.rebuilt, theirs, `${name}: reassembled datagrams, frame by frame`);
      const syns = (l: Rebuilt[]) => l.filter((x) => x.tcpFlags === 0x02).length;
      const fins = (l: Rebuilt[]) => l.filter((x) => x.tcpFlags === 0x01).length;
      assert.equal(syns(mine.rebuilt), syns(theirs));
      assert.equal(fins(mine.rebuilt), fins(theirs));
      // What each capture holds (recorded by make-captures.sh), so that a parity of 0 = 0 is not
      // mistaken for success.
      const count = theirs.length;
      if (name.startsWith('nmap-sS-f')) {
        assert.ok(count >= 50 && syns(theirs) === count, `${name}: ${count} reassembled SYNs`);
        assert.equal(mine.split, count, 'every probe splits its TCP header');
      } else if (name === 'nmap-sF-mtu16.pcap') {
        assert.ok(count >= 50 && fins(theirs) === count, `${name}: ${count} reassembled FINs`);
        assert.equal(mine.split, count, '16 of 20 bytes in the first fragment');
      } else if (name === 'nmap-sF-mtu24.pcap') {
        assert.equal(count, 0, 'a 20-byte FIN probe fits in 24 bytes: nmap sends no fragments');
      } else if (name.startsWith('ping')) {
        assert.equal(count, 6, `${name}: 3 echo requests and 3 replies`);
        assert.ok(theirs.every((x) => x.frags === 3));
        assert.equal(mine.split, 0);
      }
      // The decoder counted every frame once, the rebuilt datagrams never.
      assert.equal(mine.decoder.pkts, mine.frames);
    });
  }
});
