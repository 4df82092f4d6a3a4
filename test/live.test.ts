// Live capture, end to end, in two network namespaces joined by a veth pair (198.18.0.0/15):
// hping3 sends a known number of TCP SYN, UDP and ICMP packets; `palisade run` on the other end
// must count exactly those, a second instance with a BPF filter only what the filter passes, and
// a replay of tcpdump's capture of the same traffic must give identical counts and events. The
// namespaces are always removed, even when the test fails. Needs root, iproute2, hping3, tcpdump, tcpreplay.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CLI, GEN, replayJson, sh, tempDir } from './helpers/cli.js';
import { removeNamespaces, vethPair } from '../tools/veth.js';
import { eveLines, exited, isRoot, must, waitFor, withNamespaces } from './helpers/netns.js';

const NS_A = `pal-a-${process.pid}`;
const NS_B = `pal-b-${process.pid}`;
const IF_A = `pva${process.pid % 100000}`;
const IF_B = `pvb${process.pid % 100000}`;
const ADDR_A = '198.18.10.1';
const ADDR_B = '198.18.10.2';
/** Nobody owns it; A reaches it at B's MAC, so B's kernel never answers. */
const SINK = '198.18.10.99';

const PAIR = { nsA: NS_A, nsB: NS_B, ifA: IF_A, ifB: IF_B, addrA: `${ADDR_A}/24`, addrB: `${ADDR_B}/24` };

function setUp(): void {
  vethPair(PAIR);
  const macB = must(`ip -n ${NS_B} -br link show ${IF_B}`).trim().split(/\s+/)[2]!;
  must(`ip -n ${NS_A} neigh replace ${SINK} lladdr ${macB} dev ${IF_A} nud permanent`);
}

function tearDown(): void {
  removeNamespaces(NS_A, NS_B);
}

describe('live capture', { skip: isRoot ? false : 'needs root for network namespaces' }, () => {
  it('counts exactly what hping3 sent, and a replay of the same traffic agrees', async (t) => {
    const dir = tempDir(t);
    const children = withNamespaces(t, setUp, tearDown);

    const cfg = (name: string, extra = ''): string => {
      const f = join(dir, `${name}.yaml`);
      writeFileSync(
        f,
        `outputs:\n  eve:\n    filename: ${join(dir, `${name}.eve.json`)}\n  stdout:\n    enabled: false\nstats:\n  interval: 1h\n` +
          `enforce:\n  backend: dry-run\nstate:\n  path: ${join(dir, `${name}.db`)}\ncontrol:\n  socket: ''\n` +
          `detect:\n  syn_rate:\n    enabled: true\n${extra}`,
      );
      return f;
    };
    const netns = (args: string[]): ChildProcess => {
      const c = spawn('ip', ['netns', 'exec', NS_B, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(c);
      return c;
    };
    const all = netns([process.execPath, CLI, 'run', '-i', IF_B, '-c', cfg('all')]);
    const udpOnly = netns([process.execPath, CLI, 'run', '-i', IF_B, '-c', cfg('udp'), '-f', 'udp']);
    const snapped = netns([process.execPath, CLI, 'run', '-i', IF_B, '-c', cfg('snap', 'capture:\n  snaplen: 64\n  buffer_size: 4MiB\n')]);
    const pcap = join(dir, 'wire.pcap');
    const dump = netns(['tcpdump', '-i', IF_B, '-n', '-U', '-w', pcap]);
    await Promise.all([
      waitFor(all, 'stderr', /"msg":"capture started"/, 15000),
      waitFor(udpOnly, 'stderr', /"msg":"capture started"/, 15000),
      waitFor(snapped, 'stderr', /"msg":"capture started"/, 15000),
      waitFor(dump, 'stderr', /listening on/, 15000),
    ]);

    const send = (args: string): void => {
      must(`ip netns exec ${NS_A} hping3 -q ${args} -i u2000 ${SINK} 2>&1 || true`);
    };
    send('-S -p 80 -s 40000 -c 50');
    send('--udp -p 53 -s 50000 -d 100 -c 30'); // 142-byte frames: longer than the 64-byte snaplen
    send('--icmp -c 20');

    // Rotate the event file as logrotate would; SIGHUP reopens it.
    renameSync(join(dir, 'all.eve.json'), join(dir, 'all.eve.json.1'));
    all.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 500));
    for (const c of [all, udpOnly, snapped]) c.kill('SIGTERM');
    dump.kill('SIGINT');
    assert.equal(await exited(all), 0);
    assert.equal(await exited(udpOnly), 0);
    assert.equal(await exited(snapped), 0);
    await exited(dump);

    // Alerts went to the rotated file; the final stats to the reopened one.
    const rotated = eveLines(join(dir, 'all.eve.json.1'));
    const reopened = eveLines(join(dir, 'all.eve.json'));
    const liveAlerts = rotated.filter((e) => e.event_type === 'alert');
    assert.equal(reopened.filter((e) => e.event_type === 'alert').length, 0);
    const stats = reopened.filter((e) => e.event_type === 'stats').pop().stats;
    const counts = (d: any) => ({ pkts: d.pkts, ipv4: d.ipv4, tcp: d.tcp, tcp_syn: d.tcp_syn, udp: d.udp, icmpv4: d.icmpv4, invalid: d.invalid });
    assert.deepEqual(counts(stats.decoder), { pkts: 100, ipv4: 100, tcp: 50, tcp_syn: 50, udp: 30, icmpv4: 20, invalid: 0 });
    assert.equal(stats.capture.packets, 100);
    assert.ok(stats.capture.kernel_packets >= 100, `kernel saw ${stats.capture.kernel_packets}`);
    assert.equal(stats.capture.kernel_drops, 0);
    assert.equal(liveAlerts.length, 1, 'the SYN source is reported once');
    assert.equal(liveAlerts[0].src_ip, ADDR_A);
    assert.equal(liveAlerts[0].dest_ip, SINK);

    const filtered = eveLines(join(dir, 'udp.eve.json')).filter((e) => e.event_type === 'stats').pop().stats;
    assert.deepEqual(counts(filtered.decoder), { pkts: 30, ipv4: 30, tcp: 0, tcp_syn: 0, udp: 30, icmpv4: 0, invalid: 0 });

    // A 64-byte snaplen cuts the UDP frames: counted as snapped, never as malformed.
    const short = eveLines(join(dir, 'snap.eve.json')).filter((e) => e.event_type === 'stats').pop().stats;
    assert.deepEqual(counts(short.decoder), counts(stats.decoder));
    assert.equal(short.decoder.snapped, 30);
    assert.equal(stats.decoder.snapped, 0);
    assert.ok(short.decoder.bytes === stats.decoder.bytes, 'wire lengths are kept');

    // The same traffic, replayed from tcpdump's file: same counts, same events.
    const out = join(dir, 'replay.eve.json');
    const r = replayJson(['-c', cfg('replay'), '--eve', out, pcap]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(counts(r.summary.decoder), counts(stats.decoder));
    const replayAlerts = eveLines(out).filter((e) => e.event_type === 'alert');
    // Each packet socket gets its own kernel timestamp, so tcpdump's stamps differ from ours by
    // microseconds: the events are otherwise identical, and their times agree within 1 ms.
    const untimed = (e: any) => ({
      ...e,
      timestamp: null,
      // A live ban's alert also carries the firewall's answer (dry-run here); a replay has none.
      palisade: { ...e.palisade, enforcement: undefined, ...(e.palisade.ban ? { ban: { ...e.palisade.ban, until: null } } : {}), evidence: { ...e.palisade.evidence, first_seen: null, last_seen: null } },
    });
    assert.deepEqual(replayAlerts.map(untimed), liveAlerts.map(untimed));
    const ms = (ts: string) => Date.parse(ts.replace(/(\.\d{3})\d{3}\+0000$/, '$1Z'));
    assert.ok(Math.abs(ms(replayAlerts[0].timestamp) - ms(liveAlerts[0].timestamp)) <= 1);
  });

  it('a burst at tcpreplay\'s top speed: every packet sent is received or counted as dropped; SIGTERM stops at once', { timeout: 120000 }, async (t) => {
    const dir = tempDir(t);
    const children = withNamespaces(t, setUp, tearDown);
    const file = join(dir, 'burst.pcap');
    must(`node ${GEN} ${file} 300000 5`);
    const eve = join(dir, 'burst.eve.json');
    const cfg = join(dir, 'burst.yaml');
    writeFileSync(
      cfg,
      `outputs:\n  eve:\n    filename: ${eve}\n  stdout:\n    enabled: false\nstats:\n  interval: 1h\n` +
        `enforce:\n  backend: dry-run\nstate:\n  path: ''\ncontrol:\n  socket: ''\n`,
    );
    const run = spawn('ip', ['netns', 'exec', NS_B, process.execPath, CLI, 'run', '-i', IF_B, '-c', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(run);
    await waitFor(run, 'stderr', /"msg":"capture started"/, 15000);
    const out = must(`ip netns exec ${NS_A} tcpreplay -q -K -t --loop 2 -i ${IF_A} ${file} 2>&1`);
    const sent = Number(/Actual: (\d+) packets/.exec(out)![1]);
    assert.equal(sent, 600000);
    await new Promise((r) => setTimeout(r, 1000));
    const t0 = Date.now();
    run.kill('SIGTERM');
    assert.equal(await exited(run), 0);
    // No poll handle waits for one more packet: the process ends by itself, promptly.
    assert.ok(Date.now() - t0 < 5000, `exit took ${Date.now() - t0} ms`);
    const cap = eveLines(eve).filter((e) => e.event_type === 'stats').pop().stats.capture;
    assert.equal(cap.packets + cap.kernel_drops + cap.ring_drops, sent, JSON.stringify(cap));
    assert.equal(cap.kernel_packets, sent, 'the kernel saw every packet sent');
  });

  it('an interface removed under a running capture ends it with PAL_ERR_LIVE_CAPTURE, exit 4, not a quiet success', { timeout: 60000 }, async (t) => {
    const dir = tempDir(t);
    const children = withNamespaces(t, setUp, tearDown);
    const cfg = join(dir, 'gone.yaml');
    writeFileSync(cfg, `outputs:\n  stdout:\n    enabled: false\n  eve:\n    enabled: false\nenforce:\n  backend: dry-run\nstate:\n  path: ''\ncontrol:\n  socket: ''\n`);
    const run = spawn('ip', ['netns', 'exec', NS_B, process.execPath, CLI, 'run', '-i', IF_B, '-c', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(run);
    let log = '';
    run.stderr!.on('data', (d) => (log += d));
    await waitFor(run, 'stderr', /"msg":"capture started"/, 15000);
    must(`ip -n ${NS_A} link del ${IF_A}`);
    assert.equal(await exited(run), 4);
    assert.match(log, /PAL_ERR_LIVE_CAPTURE/);
  });

  it('reports a missing interface (exit 4) and a filter that does not compile (exit 2)', () => {
    const missing = sh(`node ${CLI} run -i nosuchif0 -c /dev/null`);
    assert.equal(missing.code, 4);
    assert.match(missing.stderr, /cannot capture on nosuchif0: .*\[PAL_ERR_LIVE_OPEN\]/);
    const badFilter = sh(`node ${CLI} run -i lo -f 'tcp and and' -c /dev/null`);
    assert.equal(badFilter.code, 2);
    assert.match(badFilter.stderr, /capture\.filter: "tcp and and" is not a valid BPF filter: .*syntax error \[PAL_ERR_CONFIG_INVALID\]/);
  });

  it('removed its namespaces', () => {
    const list = sh('ip netns list').stdout;
    assert.ok(!list.includes(NS_A) && !list.includes(NS_B), list);
  });
});
