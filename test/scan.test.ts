// The scan detectors in-process, on crafted packets: thresholds and failure evidence, the busy
// client that is no scanner, impossible flags, home_net and trusted sources, profiles, and the
// memory bound of the slow-scan tracker under a million spoofed sources.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import { F, eth, ipv4, udp } from '../tools/craft.js';
import { evaluate } from '../tools/eval.js';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { replayFiles } from '../src/pipeline/run.js';
import { harness, seg } from './helpers/engine.js';
import { HAVE_PCAPS, PCAPS } from './helpers/pcaps.js';

const T0 = 1764000000;

const MSS = Uint8Array.from([2, 4, 5, 0xb4]);

describe('port scan detector', () => {
  it('reports a SYN scan of closed ports with its evidence, once', () => {
    const h = harness();
    for (let i = 0; i < 40; i++) {
      h.send(T0 + i * 0.01, seg('198.18.1.1', '198.18.2.2', 45555, 1000 + i, F.SYN, { win: 1024, options: MSS, ttl: 44 }));
      h.send(T0 + i * 0.01 + 0.001, seg('198.18.2.2', '198.18.1.1', 1000 + i, 45555, F.RST | F.ACK));
    }
    h.engine.finish();
    assert.deepEqual(h.kinds('198.18.1.1'), ['syn_scan']);
    const ev = h.alerts[0]!.notice.evidence;
    assert.equal(ev.tool, 'nmap');
    assert.equal(ev.source_port_fixed, true);
    assert.equal(ev.probe, 'syn');
    // Refusals are evidence at once: it fires on the 15th port, 14 resets already in.
    assert.equal(ev.ports, 15, JSON.stringify(ev));
    assert.equal(ev.rejected, 14);
    assert.deepEqual(ev.ports_sample, Array.from({ length: 15 }, (_, i) => 1000 + i));
    assert.equal(h.decisions.filter((d) => d.notice.kind === 'syn_scan').length, 1, 'one notice per pair and window');
  });

  it('waits for unanswered probes, and flags them only when they stay unanswered', () => {
    const h = harness();
    for (let i = 0; i < 20; i++) h.send(T0 + i * 0.01, seg('198.18.1.3', '198.18.2.2', 40000 + i, 2000 + i, F.FIN));
    assert.equal(h.alerts.length, 0, 'not before the response timeout');
    h.send(T0 + 5, seg('198.18.9.9', '198.18.2.2', 1, 2, F.ACK | F.PSH)); // time passes
    assert.deepEqual(h.kinds('198.18.1.3'), ['fin_scan']);
    assert.equal(h.alerts[0]!.notice.evidence.unanswered, 20);
  });

  it('does not flag a busy client: 1000 answered connections to 443, and 4 services', () => {
    const h = harness();
    for (let i = 0; i < 1000; i++) {
      const t = T0 + i * 0.002;
      const sport = 20000 + i;
      h.send(t, seg('198.18.1.4', '198.18.2.2', sport, 443, F.SYN));
      h.send(t + 0.0005, seg('198.18.2.2', '198.18.1.4', 443, sport, F.SYN | F.ACK));
      h.send(t + 0.001, seg('198.18.1.4', '198.18.2.2', sport, 443, F.ACK));
    }
    for (const port of [22, 25, 80, 993]) {
      h.send(T0 + 3, seg('198.18.1.4', '198.18.2.3', 30000 + port, port, F.SYN));
      h.send(T0 + 3.001, seg('198.18.2.3', '198.18.1.4', port, 30000 + port, F.SYN | F.ACK));
    }
    h.engine.finish();
    assert.deepEqual(h.alerts, []);
  });

  it('tells a UDP scan answered by port unreachables from a client of many answered UDP ports', () => {
    const h = harness();
    for (let i = 0; i < 20; i++) {
      const probe = eth(0x0800, ipv4({ src: '198.18.1.5', dst: '198.18.2.2', proto: 17 }, udp(50000, 100 + i)));
      h.send(T0 + i * 0.01, probe);
      const inner = ipv4({ src: '198.18.1.5', dst: '198.18.2.2', proto: 17 }, udp(50000, 100 + i));
      const icmp = Buffer.concat([Buffer.from([3, 3, 0, 0, 0, 0, 0, 0]), inner]);
      h.send(T0 + i * 0.01 + 0.001, eth(0x0800, ipv4({ src: '198.18.2.2', dst: '198.18.1.5', proto: 1 }, icmp)));
      // A media client: 20 UDP ports on one host, every one answered.
      h.send(T0 + i * 0.01, eth(0x0800, ipv4({ src: '198.18.1.6', dst: '198.18.2.2', proto: 17 }, udp(40000 + i, 10000 + i, Buffer.alloc(20)))));
      h.send(T0 + i * 0.01 + 0.001, eth(0x0800, ipv4({ src: '198.18.2.2', dst: '198.18.1.6', proto: 17 }, udp(10000 + i, 40000 + i, Buffer.alloc(20)))));
    }
    h.engine.finish();
    assert.deepEqual(h.kinds('198.18.1.5'), ['udp_scan']);
    assert.deepEqual(h.kinds('198.18.1.6'), []);
  });

  it('counts only targets inside home_net, and never reports trusted sources', () => {
    const h = harness('home_net: [198.18.2.0/24]\ntrusted: [198.18.7.0/24]\n');
    for (let i = 0; i < 30; i++) {
      h.send(T0 + i * 0.01, seg('198.18.1.7', '203.0.113.9', 40000, 3000 + i, F.SYN)); // outside home_net
      h.send(T0 + i * 0.01, seg('198.18.7.7', '198.18.2.2', 40000, 3000 + i, F.SYN)); // trusted
    }
    h.engine.finish();
    assert.deepEqual(h.alerts, []);
    assert.ok(h.decisions.some((d) => d.notice.src.toString() === '198.18.7.7' && d.reason.startsWith('trusted')));
  });
});

describe('sweep, impossible flags, fingerprints', () => {
  it('reports a zmap-style sweep of one port across hosts with the tool', () => {
    const h = harness();
    for (let i = 0; i < 300; i++) h.send(T0 + i * 0.001, seg('198.18.1.8', `198.18.${100 + (i >> 8)}.${i & 255}`, 30000 + i, 80, F.SYN, { id: 54321, ttl: 255, win: 65535 }));
    h.engine.finish();
    assert.deepEqual(h.kinds('198.18.1.8'), ['sweep']);
    assert.equal(h.alerts[0]!.notice.evidence.tool, 'zmap');
    assert.equal(h.alerts[0]!.notice.dstPort, 80);
  });

  it('flags a single SYN+FIN packet on its own', () => {
    const h = harness();
    h.send(T0, seg('198.18.1.9', '198.18.2.2', 1234, 80, F.SYN | F.FIN));
    assert.deepEqual(h.kinds('198.18.1.9'), ['bad_flags']);
    assert.equal(h.alerts[0]!.notice.evidence.flags, 'FIN+SYN');
  });
});

describe('profiles', () => {
  it('set every threshold at once; keys in the file override them', () => {
    const normal = parseConfig('', 'a.yaml');
    assert.equal(normal.detect.port_scan.ports, 15);
    assert.equal(normal.detect.sweep.hosts, 25);
    const paranoid = parseConfig('profile: paranoid\n', 'b.yaml');
    assert.equal(paranoid.detect.port_scan.ports, 5);
    assert.equal(paranoid.detect.slow_scan.window, 86400);
    const mixed = parseConfig('profile: aggressive\ndetect:\n  port_scan:\n    ports: 10\n', 'c.yaml');
    assert.equal(mixed.detect.port_scan.ports, 10);
    assert.equal(mixed.detect.port_scan.window, 900, 'the rest from the profile');
    assert.throws(() => parseConfig('profile: loud\n', 'd.yaml'), /d\.yaml:1:10: profile: expected one of: normal, aggressive, paranoid/);
    assert.throws(() => parseConfig('detect:\n  slow_scan:\n    window: 2d\n', 'e.yaml'), /e\.yaml:3:13: .*at most 24h/);
  });

  it('refuses flow tracking off while scan detectors need it', () => {
    assert.throws(() => harness('flow:\n  tracking: off\n'), /flow\.tracking is off, but these enabled detectors need flow state: port_scan, sweep, slow_scan/);
  });
});

describe('prefilter', () => {
  /** Five answered connections to open ports, then SYNs to 20 closed ports of the same host. */
  function openThenClosed(yaml: string) {
    const h = harness(yaml);
    for (let i = 0; i < 5; i++) {
      const t = T0 + i * 0.01;
      h.send(t, seg('198.18.1.20', '198.18.2.2', 41000 + i, 8000 + i, F.SYN));
      h.send(t + 0.001, seg('198.18.2.2', '198.18.1.20', 8000 + i, 41000 + i, F.SYN | F.ACK));
      h.send(t + 0.002, seg('198.18.1.20', '198.18.2.2', 41000 + i, 8000 + i, F.RST));
    }
    for (let i = 0; i < 20; i++) {
      const t = T0 + 1 + i * 0.01;
      h.send(t, seg('198.18.1.20', '198.18.2.2', 42000 + i, 1000 + i, F.SYN));
      h.send(t + 0.001, seg('198.18.2.2', '198.18.1.20', 1000 + i, 42000 + i, F.RST | F.ACK));
    }
    h.engine.finish();
    return h;
  }

  it('replays the probes a source made before its first failure: same verdict and evidence as without it', () => {
    const on = openThenClosed('');
    const off = openThenClosed('detect:\n  prefilter:\n    enabled: false\n');
    assert.deepEqual(on.kinds('198.18.1.20'), ['syn_scan']);
    assert.deepEqual(on.kinds('198.18.1.20'), off.kinds('198.18.1.20'));
    const [a, b] = [on.alerts[0]!.notice.evidence, off.alerts[0]!.notice.evidence];
    for (const k of ['probes', 'ports', 'answered', 'rejected', 'half_open', 'first_seen', 'ports_sample']) assert.deepEqual(a[k], b[k], k);
    assert.equal(a.answered, 5);
    assert.equal(a.half_open, 5, 'the replayed probes keep their outcomes');
    const pf = (on.engine.buildStats() as { detect: { prefilter: Record<string, number> } }).detect.prefilter;
    assert.equal(pf.escalated, 1);
  });

  it('keeps the time of the first probes of a filtered slow scan across escalation', () => {
    const h = harness();
    for (let i = 0; i < 40; i++) h.send(T0 + i * 30, seg('198.18.1.21', '198.18.2.2', 43000 + i, 3000 + i * 7, F.SYN));
    h.engine.finish();
    assert.deepEqual(h.kinds('198.18.1.21'), ['slow_scan']);
    assert.equal(h.alerts[0]!.notice.evidence.first_seen, T0);
  });

  it('keeps sources whose probes are all answered out of the detectors', () => {
    const h = harness();
    for (let i = 0; i < 200; i++) {
      const t = T0 + i * 0.01;
      h.send(t, seg('198.18.1.22', `198.18.3.${i % 50}`, 20000 + i, 443, F.SYN));
      h.send(t + 0.0005, seg(`198.18.3.${i % 50}`, '198.18.1.22', 443, 20000 + i, F.SYN | F.ACK));
    }
    h.engine.finish();
    const d = (h.engine.buildStats() as { detect: { prefilter: Record<string, number>; detectors: Record<string, { tracked: number }> } }).detect;
    assert.equal(d.prefilter.sources, 1);
    assert.equal(d.prefilter.escalated, 0);
    for (const name of ['port_scan', 'sweep', 'slow_scan']) assert.equal(d.detectors[name]!.tracked, 0, name);
    assert.deepEqual(h.alerts, []);
  });
});

describe('fragmented scans (nmap -f): reassembled, detected, and marked', () => {
  const data = fileURLToPath(new URL('../../test/data/defrag/', import.meta.url));
  const alertsOf = async (file: string, yaml = ''): Promise<any[]> => {
    const h = harness(yaml);
    await replayFiles(h.engine, [join(data, file)]);
    return h.alerts;
  };
  for (const [file, kind] of [
    ['nmap-sS-f.pcap', 'syn_scan'],
    ['nmap-sS-ff.pcap', 'syn_scan'],
    ['nmap-sF-mtu16.pcap', 'fin_scan'],
  ] as const) {
    it(`${file}: ${kind}, with fragmented probes in the evidence; unseen with defrag off (the evasion)`, async () => {
      const a = await alertsOf(file);
      assert.deepEqual(a.map((d) => d.notice.kind), [kind]);
      const e = a[0].notice.evidence;
      assert.equal(e.fragmented, true);
      assert.equal(e.fragmented_probes, e.probes);
      assert.equal(e.tool, 'nmap');
      assert.deepEqual(await alertsOf(file, 'defrag:\n  enabled: false\n'), []);
    });
  }
  it('nmap -sF --mtu 24 sends whole probes (20 bytes fit): a fin_scan, not fragmented', async () => {
    const a = await alertsOf('nmap-sF-mtu24.pcap');
    assert.deepEqual(a.map((d) => d.notice.kind), ['fin_scan']);
    assert.equal(a[0].notice.evidence.fragmented, false);
  });
});

describe('memory bound', () => {
  /** One SYN from each of 1,000,000 spoofed sources, through an engine over `yaml`. */
  function spoofedFlood(yaml: string) {
    const h = harness(yaml);
    const frame = seg('10.0.0.1', '198.18.2.2', 40000, 80, F.SYN);
    const ipo = 14;
    for (let i = 0; i < 1_000_000; i++) {
      const a = (0x0a000000 + i) >>> 0;
      frame.writeUInt32BE(a, ipo + 12);
      frame.writeUInt16BE(1 + (i % 65535), ipo + 20 + 2);
      h.send(T0 + i * 1e-5, frame);
    }
    h.engine.finish();
    const s = h.engine.buildStats() as {
      detect: { prefilter?: Record<string, number>; detectors: Record<string, { memuse: number; evicted: number; tracked: number; memcap?: number }> };
    };
    assert.deepEqual(
      h.alerts.filter((d) => d.notice.detector !== 'flood'),
      [],
      'one probe per source is no scan',
    );
    // It is a spoofed SYN flood: reported once, and nobody is banned.
    const floods = h.alerts.filter((d) => d.notice.detector === 'flood');
    assert.deepEqual([...new Set(floods.map((d) => d.notice.kind))], ['syn_flood']);
    assert.ok(floods.every((d) => d.action === 'alert' && d.ban === null && /not banned: spoofed flood/.test(d.reason)), floods.map((d) => d.reason).join('; '));
    return s.detect;
  }

  it('keeps the slow-scan tracker under its cap with 1,000,000 spoofed sources (prefilter off)', () => {
    const cap = 4 << 20;
    const d = spoofedFlood(`detect:\n  prefilter:\n    enabled: false\n  slow_scan:\n    memory: ${cap}\n`);
    const slow = d.detectors.slow_scan!;
    assert.ok(slow.memuse <= cap, `slow_scan uses ${slow.memuse} bytes, cap ${cap}`);
    assert.equal(slow.memcap, cap);
    assert.ok(slow.evicted > 900_000, `evicted ${slow.evicted}`);
    assert.ok(d.detectors.port_scan!.evicted > 900_000);
  });

  it('holds the prefilter to its table, and keeps spoofed single probes out of the detectors', () => {
    const d = spoofedFlood('detect:\n  prefilter:\n    max_sources: 4096\n');
    const pf = d.prefilter!;
    assert.equal(pf.sources, 4096);
    assert.ok(pf.evicted > 990_000, `evicted ${pf.evicted}`);
    assert.equal(pf.escalated, 0);
    assert.ok(pf.memuse < 4096 * 512, `prefilter uses ${pf.memuse} bytes`);
    for (const name of ['port_scan', 'sweep', 'slow_scan']) assert.equal(d.detectors[name]!.tracked, 0, name);
  });
});

describe('evaluation on the shared public captures', { skip: HAVE_PCAPS ? false : `no captures at ${PCAPS}` }, () => {
  it('detects every labelled scanner, flood victim and password guesser with its kind (and service), and flags no innocent (normal profile)', async () => {
    const r = await evaluate(PCAPS);
    const misses = r.rows.flatMap((row) => row.attackers.filter((a) => !a.hit).map((a) => `${row.file}: ${a.ip} got ${a.detected.join(',') || 'nothing'}`));
    const fps = r.rows.flatMap((row) => row.false_positives.map((f) => `${row.file}: ${f.ip} (${f.role}) ${f.kinds.join(',')}`));
    assert.deepEqual(misses, []);
    assert.deepEqual(fps, []);
    assert.ok(r.tp >= 26, `${r.tp} attackers and victims scored`);
    const brute = r.rows.filter((row) => row.expected.startsWith('bruteforce'));
    assert.ok(brute.length >= 4 && brute.every((row) => row.status === 'scored'), brute.map((row) => `${row.file} ${row.status}`).join('; '));
    // The one label corrected with its evidence (tools/eval-corrections.json) says so in its row.
    const fixed = r.rows.filter((row) => row.corrected !== undefined).map((row) => row.file);
    assert.deepEqual(fixed, ['chrissanders__packets/ftp-crack.pcap']);
  });
});
