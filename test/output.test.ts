// Output-stage tests: EVE timestamps (including absurd times), the human console view, and the
// file sink's reopen after logrotate moved the file.

import assert from 'node:assert/strict';
import { readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { IpAddr } from '../src/core/addr.js';
import type { Decision } from '../src/core/notice.js';
import { formatAlertLine, formatStatsLine } from '../src/output/console.js';
import { alertEvent, eveTimestamp } from '../src/output/eve.js';
import { Outputs } from '../src/output/outputs.js';
import { FileSink } from '../src/output/sinks.js';
import { tempDir } from './helpers/cli.js';

const decision: Decision = {
  action: 'alert',
  ban: null,
  protectedBy: null,
  reason: 'policy',
  duration: 600,
  notice: {
    id: 7,
    kind: 'syn_rate',
    detector: 'syn_rate',
    tsSec: 1764000000,
    tsNsec: 5_000,
    src: IpAddr.parse('2001:db8::bad')!,
    dst: IpAddr.parse('2001:db8::1')!,
    srcPort: 5000,
    dstPort: 22,
    proto: 6,
    severity: 2,
    signatureId: 9000001,
    signature: 'PALISADE SYN rate',
    category: 'Attempted Information Leak',
    evidence: { syn_count: 3, first_seen: 1764000000.5 },
  },
};

describe('eve', () => {
  it('formats timestamps with microseconds and +0000, and never throws on absurd times', () => {
    assert.equal(eveTimestamp(1764000000, 123456789), '2025-11-24T16:00:00.123456+0000');
    assert.equal(eveTimestamp(0, 0), '1970-01-01T00:00:00.000000+0000');
    assert.doesNotThrow(() => eveTimestamp(Number.MAX_SAFE_INTEGER, 0));
    assert.doesNotThrow(() => eveTimestamp(NaN, 0));
  });

  it('renders alerts in the EVE layout with evidence times as timestamps', () => {
    const e = alertEvent(decision);
    assert.equal(e.src_ip, '2001:db8::bad');
    assert.equal(e.proto, 'TCP');
    assert.equal(e.timestamp, '2025-11-24T16:00:00.000005+0000');
    assert.equal(e.palisade.evidence.first_seen, '2025-11-24T16:00:00.500000+0000');
  });
});

describe('console', () => {
  it('writes one readable line per alert and per stats event', () => {
    assert.equal(
      formatAlertLine(decision),
      '2025-11-24 16:00:00.000  ALERT MEDIUM  syn_rate  2001:db8::bad -> 2001:db8::1:22 TCP  PALISADE SYN rate',
    );
    assert.equal(
      formatStatsLine({ decoder: { pkts: 1234567, bytes: 99, invalid: 2 }, capture: { kernel_drops: 5, ring_drops: 3 }, detect: { alerts: 1 } }),
      "stats: 1,234,567 packets, 99 bytes, 2 invalid, 5 dropped by the kernel, 3 by Palisade's ring, 1 alerts",
    );
  });
});

describe('file sink', () => {
  it('appends, and writes to a new file after reopen (logrotate)', (t) => {
    const d = tempDir(t);
    const path = join(d, 'logs', 'eve.json');
    const out = new Outputs();
    out.add(new FileSink(path), ['alert', 'stats'], false);
    out.alert(decision);
    out.flush();
    renameSync(path, `${path}.1`);
    out.reopen();
    out.stats(1764000001, 0, { decoder: { pkts: 1 } });
    out.close();
    assert.equal(JSON.parse(readFileSync(`${path}.1`, 'utf8')).event_type, 'alert');
    assert.equal(JSON.parse(readFileSync(path, 'utf8')).event_type, 'stats');
  });

  it('sends each event type only where it is wanted', (t) => {
    const d = tempDir(t);
    const out = new Outputs();
    out.add(new FileSink(join(d, 'alerts.json')), ['alert'], false);
    out.add(new FileSink(join(d, 'stats.json')), ['stats'], false);
    out.alert(decision);
    out.stats(1, 0, {});
    out.close();
    assert.equal(readFileSync(join(d, 'alerts.json'), 'utf8').trim().split('\n').length, 1);
    assert.match(readFileSync(join(d, 'stats.json'), 'utf8'), /"event_type":"stats"/);
  });
});
