// Replay matches tcpdump: per-protocol counts (IPv4, IPv6, TCP, UDP, ICMP, ICMPv6 and TCP
// SYN-only) equal tcpdump's filter counts, on a generated mixed capture and on every real capture
// in ../shared/pcaps (skipped when that folder is absent). Every replay ends without an exception.

import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { GEN, replayJson, sh, tempDir } from './helpers/cli.js';
import { PCAPS } from './helpers/pcaps.js';


// Our counter -> tcpdump filter. tcpdump's tcp[] only reads IPv4, so IPv6 SYNs are matched by hand.
const FILTERS: Record<string, string> = {
  ipv4: 'ip',
  ipv6: 'ip6',
  tcp: 'tcp',
  udp: 'udp',
  icmpv4: 'icmp',
  icmpv6: 'icmp6',
  tcp_syn: '(ip and tcp[tcpflags]==tcp-syn) or (ip6 and ip6[6]==6 and ip6[53]==2)',
};

function tcpdumpCount(file: string, filter: string): number {
  let n = 0;
  // Tagged frames need `vlan and` (once per tag) before the filter matches their payload.
  for (const prefix of ['', 'vlan and ', 'vlan and vlan and ']) {
    const r = sh(`tcpdump -nn -r '${file}' '${prefix}(${filter})' 2>/dev/null | wc -l`);
    n += Number(r.stdout.trim());
  }
  return n;
}

function checkParity(file: string): void {
  const r = replayJson([file]);
  assert.equal(r.code, 0, `${file}: ${r.stderr}`);
  assert.ok(r.summary.packets > 0);
  const ours: Record<string, number> = {};
  const theirs: Record<string, number> = {};
  for (const [counter, filter] of Object.entries(FILTERS)) {
    ours[counter] = r.summary.decoder[counter] ?? 0;
    theirs[counter] = tcpdumpCount(file, filter);
  }
  assert.deepEqual(ours, theirs, file);
}

describe('replay matches tcpdump', () => {
  it('on a generated capture of 300k mixed packets (IPv4, IPv6, TCP, UDP, ICMP, scans)', (t) => {
    const f = join(tempDir(t), 'mix.pcap');
    assert.equal(sh(`node ${GEN} ${f} 300000 5`).code, 0);
    checkParity(f);
  });

  const files = existsSync(PCAPS)
    ? readdirSync(PCAPS, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .flatMap((d) => readdirSync(join(PCAPS, d.name)).map((f) => join(PCAPS, d.name, f)))
        .filter((f) => /\.pcap(ng)?$/.test(f))
        .sort()
    : [];
  it(`on the ${files.length} real captures in ${PCAPS}`, { skip: files.length === 0 ? `${PCAPS} is absent` : false }, () => {
    for (const f of files) checkParity(f);
  });
});
