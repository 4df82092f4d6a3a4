// Pipeline tests through `palisade replay`: the example detector's rule (threshold and window
// from config, trusted sources, suppression), EVE alert and stats layout, stats on packet time,
// several files as one stream, and identical verdicts on every run.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { defaultConfig } from '../src/config/load.js';
import { LinkType } from '../src/core/packet.js';
import { enabledNames } from '../src/detect/registry.js';
import { F, eth, ipv4, ipv6, pcapFile, tcp, type Rec } from '../tools/craft.js';
import { GEN, palisade, replayJson, sh, tempDir } from './helpers/cli.js';

const T0 = 1764000000; // 2025-11-24T16:00:00Z
const synFrom = (src: string, dport: number, sport = 40000) => eth(0x0800, ipv4({ src, dst: '198.18.0.2', proto: 6 }, tcp({ sport, dport, flags: F.SYN })));

function capture(dir: string, name: string, recs: Rec[]): string {
  const f = join(dir, name);
  writeFileSync(f, pcapFile(LinkType.ETHERNET, recs));
  return f;
}

function eve(path: string): any[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l)
    .map((l) => JSON.parse(l));
}

/** The example detector alone (it is off by default since the scan suite replaced it). */
const SYN_RATE_ONLY = 'detect:\n  syn_rate:\n    enabled: true\n' + enabledNames(defaultConfig().detect).map((d) => `  ${d}:\n    enabled: false\n`).join('');

function synRateConfig(dir: string, extra = ''): string {
  const f = join(dir, 'syn-rate.yaml');
  writeFileSync(f, `${SYN_RATE_ONLY}${extra}`);
  return f;
}

const EVE_TS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+0000$/;

describe('example detector: N SYNs from a source within a window', () => {
  it('fires at the threshold, once, with EVE fields and evidence', (t) => {
    const d = tempDir(t);
    const f = capture(d, 'a.pcap', [
      { t: [T0, 100000000], data: synFrom('198.18.5.5', 22) },
      { t: [T0 + 1, 0], data: synFrom('198.18.5.5', 23) },
      { t: [T0 + 2, 123456000], data: synFrom('198.18.5.5', 25) },
      { t: [T0 + 3, 0], data: synFrom('198.18.5.5', 80) },
    ]);
    const r = palisade(['replay', '-q', '-c', synRateConfig(d), '--eve', join(d, 'eve.json'), f]);
    assert.equal(r.code, 0, r.stderr);
    const alerts = eve(join(d, 'eve.json')).filter((e) => e.event_type === 'alert');
    assert.equal(alerts.length, 1);
    const a = alerts[0];
    assert.equal(a.timestamp, '2025-11-24T16:00:02.123456+0000');
    assert.match(a.timestamp, EVE_TS);
    assert.equal(a.src_ip, '198.18.5.5');
    assert.equal(a.src_port, 40000);
    assert.equal(a.dest_ip, '198.18.0.2');
    assert.equal(a.dest_port, 25);
    assert.equal(a.proto, 'TCP');
    assert.deepEqual(Object.keys(a.alert).sort(), ['action', 'category', 'gid', 'rev', 'severity', 'signature', 'signature_id']);
    assert.equal(a.alert.signature_id, 9000001);
    assert.equal(a.alert.severity, 2);
    assert.match(a.alert.signature, /3 SYNs from one source within 60s/);
    assert.equal(a.palisade.kind, 'syn_rate');
    assert.equal(a.palisade.evidence.syn_count, 3);
    assert.equal(a.palisade.evidence.first_seen, '2025-11-24T16:00:00.100000+0000');
    assert.equal(a.palisade.evidence.last_seen, '2025-11-24T16:00:02.123456+0000');
    assert.equal(a.palisade.duration, 600);
    assert.match(r.stdout, /1 alert from 1 source: syn_rate 1/);
    assert.match(r.stdout, /packets\/s/);
  });

  it('takes N and the window from config; slow sources, trusted sources and IPv6', (t) => {
    const d = tempDir(t);
    const recs: Rec[] = [];
    // 5 SYNs in 10 s: fires at threshold 5, window 30 s.
    for (let i = 0; i < 5; i++) recs.push({ t: T0 + i * 2, data: synFrom('198.18.1.1', 100 + i) });
    // 5 SYNs 40 s apart: never 5 within 30 s.
    for (let i = 0; i < 5; i++) recs.push({ t: T0 + 20 + i * 40, data: synFrom('198.18.1.2', 100 + i) });
    // A trusted source.
    for (let i = 0; i < 6; i++) recs.push({ t: T0 + 300 + i, data: synFrom('10.1.2.3', 100 + i) });
    // IPv6.
    for (let i = 0; i < 5; i++) {
      recs.push({ t: T0 + 400 + i, data: eth(0x86dd, ipv6({ src: '2001:db8::bad', dst: '2001:db8::1', nh: 6 }, tcp({ sport: 5000, dport: i + 1, flags: F.SYN }))) });
    }
    recs.sort((a, b) => (a.t as number) - (b.t as number));
    const f = capture(d, 'b.pcap', recs);
    const cfg = join(d, 'c.yaml');
    writeFileSync(cfg, `trusted: [10.0.0.0/8]\n${SYN_RATE_ONLY.replace('enabled: true\n', 'enabled: true\n    threshold: 5\n    window: 30s\n')}`);
    const r = replayJson(['-c', cfg, f]);
    assert.equal(r.code, 0);
    assert.deepEqual(r.summary.detections.sources.map((s: any) => s.src_ip).sort(), ['198.18.1.1', '2001:db8::bad']);
    assert.equal(r.summary.detections.trusted, 1);
    // Defaults (3 in 60 s, only loopback trusted): 10.1.2.3 is reported; SYNs 40 s apart are
    // never 3 within one window (it starts at a source's first SYN, as Snort's detection_filter).
    const def = replayJson(['-c', synRateConfig(d), f]);
    assert.deepEqual(def.summary.detections.sources.map((s: any) => s.src_ip).sort(), ['10.1.2.3', '198.18.1.1', '2001:db8::bad']);
  });

  it('does not repeat an alert for a source while its verdict stands', (t) => {
    const d = tempDir(t);
    const recs: Rec[] = [];
    // Bursts of 3 SYNs every 2 minutes for 30 minutes: one alert per 10-minute verdict.
    for (let b = 0; b < 15; b++) for (let i = 0; i < 3; i++) recs.push({ t: T0 + b * 120 + i, data: synFrom('198.18.9.9', 1000 + b * 3 + i) });
    const r = replayJson(['-c', synRateConfig(d), capture(d, 'c.pcap', recs)]);
    assert.equal(r.summary.detections.alerts, 3);
    assert.equal(r.summary.detections.suppressed, 12);
  });
});

describe('events and stats', () => {
  it('emits stats events on packet time, the last at the end, with counters and stage timings', (t) => {
    const d = tempDir(t);
    const recs: Rec[] = [];
    for (let i = 0; i <= 100; i++) recs.push({ t: T0 + i, data: synFrom('198.18.0.1', 80, 30000 + i) });
    recs.push({ t: T0 + 100.5, data: Buffer.alloc(10) }); // a broken frame
    const f = capture(d, 's.pcap', recs);
    const cfg = join(d, 'track.yaml');
    writeFileSync(cfg, `flow:\n  tracking: on\n${SYN_RATE_ONLY}`);
    const r = palisade(['replay', '-q', '-c', cfg, '--eve', join(d, 'eve.json'), f]);
    assert.equal(r.code, 0);
    const stats = eve(join(d, 'eve.json')).filter((e) => e.event_type === 'stats');
    assert.equal(stats.length, 4, 'every 30 s of packet time (3), plus the final one');
    const last = stats[stats.length - 1];
    assert.match(last.timestamp, EVE_TS);
    assert.equal(last.stats.decoder.pkts, 102);
    assert.equal(last.stats.decoder.tcp, 101);
    assert.equal(last.stats.decoder.invalid, 1);
    assert.equal(last.stats.decoder.event.ethernet.pkt_too_small, 1);
    assert.equal(last.stats.capture.kernel_drops, 0);
    assert.equal(typeof last.stats.perf.decode_ns, 'number');
    assert.equal(typeof last.stats.perf.track_ns, 'number');
    assert.equal(typeof last.stats.perf.detect_ns, 'number');
    assert.equal(last.stats.detect.alerts, 1);
    assert.ok(last.stats.flow.memuse > 0);
    assert.equal(last.stats.flow.created, 101, 'each SYN opens a flow (a new source port each time)');
    // The example detector needs no flows: alone, it runs without the track stage.
    const plain = palisade(['replay', '-q', '-c', synRateConfig(d), '--eve', join(d, 'plain.json'), f]);
    assert.equal(plain.code, 0);
    assert.equal(eve(join(d, 'plain.json')).pop().stats.flow, undefined);
    assert.equal(last.stats.uptime, 100.5);
  });

  it('writes EVE to stdout with --eve -', (t) => {
    const d = tempDir(t);
    const f = capture(d, 'e.pcap', [0, 1, 2].map((i) => ({ t: T0 + i, data: synFrom('198.18.0.7', 10 + i) })));
    const r = palisade(['replay', '-q', '-c', synRateConfig(d), '--eve', '-', f]);
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('{'));
    assert.deepEqual(
      lines.map((l) => JSON.parse(l).event_type),
      ['alert', 'stats'],
    );
  });

  it('replays several files as one stream', (t) => {
    const d = tempDir(t);
    const a = capture(d, '1.pcap', [{ t: T0, data: synFrom('198.18.3.3', 1) }, { t: T0 + 1, data: synFrom('198.18.3.3', 2) }]);
    const b = capture(d, '2.pcap', [{ t: T0 + 2, data: synFrom('198.18.3.3', 3) }]);
    const r = replayJson(['-c', synRateConfig(d), a, b]);
    assert.equal(r.summary.files.length, 2);
    assert.equal(r.summary.packets, 3);
    assert.equal(r.summary.detections.alerts, 1, 'the third SYN, in the second file, completes the count');
  });
});

describe('determinism', () => {
  it('gives identical verdicts and events on every run', (t) => {
    const d = tempDir(t);
    const f = join(d, 'gen.pcap');
    assert.equal(sh(`node ${GEN} ${f} 200000 11`).code, 0);
    // Flow tracking on, with a table small enough to evict: eviction order must not vary either.
    const cfg = join(d, 'c.yaml');
    writeFileSync(cfg, 'flow:\n  tracking: on\n  max_flows: 4096\n');
    const runs = [1, 2, 3].map((i) => {
      const out = join(d, `eve${i}.json`);
      const r = palisade(['replay', '-q', '-c', cfg, '--json', '--eve', out, f]);
      assert.equal(r.code, 0);
      const s = JSON.parse(r.stdout);
      const events = eve(out).map((e) => {
        if (e.event_type === 'stats') delete e.stats.perf;
        return JSON.stringify(e);
      });
      return { detections: s.detections, decoder: s.decoder, flow: s.flow, events };
    });
    assert.ok(runs[0]!.detections.alerts > 0);
    assert.ok(runs[0]!.flow.evicted > 0);
    assert.deepEqual(runs[1], runs[0]);
    assert.deepEqual(runs[2], runs[0]);
  });
});
