// Floods and fragmented scans end to end: real hping3 and nmap in an attacker namespace against a
// victim namespace (198.18.80-84.0/24, the lab of helpers/lab.ts) where `palisade run` watches the
// bridge. A SYN flood from one real source is banned within a second; a spoofed SYN flood bans
// nobody and gets a mitigation in `table inet palisade` within a second, withdrawn after it
// stops, while a benign client's requests are counted with and without it; ICMP and UDP floods
// and a DNS reflection (queries spoofed from the victim to a resolver in the benign namespace)
// are reported with their kinds; wrk with 200 connections, a 1 GB download and a burst of DNS
// queries raise nothing; nmap -f, -f -f and --mtu 16 are reported and marked fragmented.
// Namespaces are always removed. Needs root, iproute2, hping3, nmap, wrk and curl.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it, type TestContext } from 'node:test';
import { lab, sleep, until, type Lab } from './helpers/lab.js';
import { eveLines, exited, isRoot, waitFor } from './helpers/netns.js';

const skip = isRoot ? false : 'needs root for network namespaces';

/** Appended to the lab's config, whose last section is `detect:`. */
const FAST = '  flood:\n    hold: 3s\nmitigation:\n  hold: 3s\n';

const events = (l: Lab, type: string): any[] => (existsSync(l.eve) ? eveLines(l.eve).filter((e) => e.event_type === type) : []);
const alertsOf = (l: Lab, kind: string): any[] => events(l, 'alert').filter((e) => e.palisade.kind === kind);

/** Runs `cmd` in a namespace in the background (killed when the test ends). */
function bg(l: Lab, ns: string, cmd: string): ChildProcess {
  const p = spawn('ip', ['netns', 'exec', ns, 'sh', '-c', `exec ${cmd}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  l.children.push(p);
  return p;
}

/** `n` HTTP requests from the benign namespace, one new connection each, `gapMs` apart: the share that succeeded. */
async function successRate(l: Lab, n: number, gapMs: number): Promise<number> {
  let ok = 0;
  for (let i = 0; i < n; i++) {
    const r = l.inNs(l.n.ns.b, `curl -s -m 1 --interface ${l.n.benign} http://${l.n.victim}:80/`, 5000);
    if (r.stdout.includes('ok')) ok++;
    await sleep(gapMs);
  }
  return ok / n;
}

const mitigationChains = (l: Lab): string => l.inNs(l.n.ns.v, 'nft list table inet palisade').stdout.split('\n').filter((x) => /chain mit_(?!input|forward|frag|raw)/.test(x)).join('\n');

async function stop(p: ChildProcess): Promise<void> {
  p.kill('SIGTERM');
  assert.equal(await exited(p), 0);
}

describe('floods, live in namespaces', { skip }, () => {
  it('a SYN flood from one real source is banned within a second of its start, with no mitigation', { timeout: 120000 }, async (t: TestContext) => {
    const l = await lab(t, 'la', 80, 'nftables', FAST);
    const p = await l.start();
    const t0 = Date.now();
    const flood = bg(l, l.n.ns.a, `hping3 -q -S -p 80 -i u100 -c 30000 -a ${l.n.attacker} -I ${l.n.attackerIf} ${l.n.victim}`);
    await until('the attacker banned', () => l.nftSet().includes(l.n.attacker), 10000);
    const seen = Date.now() - t0;
    const applied = events(l, 'ban').find((e) => e.ban.action === 'applied' && e.ban.scope === `${l.n.attacker}/32`);
    assert.ok(applied, 'the ban reached the kernel');
    const ms = Date.parse(applied.timestamp.replace(/(\.\d{3})\d*\+0000$/, '$1Z')) - t0;
    t.diagnostic(`banned ${ms} ms after hping3 started (seen by polling after ${seen} ms)`);
    assert.ok(ms < 1000, `banned after ${ms} ms`);
    const a = alertsOf(l, 'syn_flood');
    assert.equal(a.length, 1);
    assert.equal(a[0].src_ip, l.n.attacker);
    assert.equal(a[0].dest_ip, l.n.victim);
    assert.equal(a[0].alert.action, 'blocked');
    assert.equal(a[0].palisade.evidence.top_sources[0].proven, true);
    assert.equal(events(l, 'flood').filter((e) => e.flood.phase === 'mitigation_applied').length, 0, 'banning is enough');
    flood.kill('SIGKILL');
    await stop(p);
  });

  it('a spoofed SYN flood bans nobody: mitigated within a second, benign requests counted with and without, withdrawn after', { timeout: 180000 }, async (t: TestContext) => {
    const l = await lab(t, 'lb', 81, 'nftables', FAST);
    const hping = `hping3 -q -S -p 80 -i u20 --rand-source -I ${l.n.attackerIf} ${l.n.victim}`;
    // Without Palisade: the kernel alone (SYN cookies).
    let flood = bg(l, l.n.ns.a, hping);
    await sleep(500);
    const without = await successRate(l, 20, 100);
    flood.kill('SIGKILL');
    await exited(flood);
    await sleep(1000);
    const p = await l.start();
    // A client known before the flood, as a server's regular clients are.
    assert.ok((await successRate(l, 2, 50)) === 1, 'the benign client connects before the flood');
    const t0 = Date.now();
    flood = bg(l, l.n.ns.a, hping);
    await until('mitigation rules in table inet palisade', () => mitigationChains(l) !== '', 10000);
    const ms = Date.now() - t0;
    t.diagnostic(`mitigation in the kernel ${ms} ms after the flood began`);
    assert.ok(ms < 1000, `mitigated after ${ms} ms`);
    const withMit = await successRate(l, 20, 100);
    t.diagnostic(`benign HTTP success rate: ${Math.round(without * 100)}% without mitigation, ${Math.round(withMit * 100)}% with`);
    assert.equal(l.nftSet().includes('elements'), false, `nobody is banned:\n${l.nftSet()}`);
    const a = alertsOf(l, 'syn_flood');
    assert.equal(a.length, 1);
    assert.equal(a[0].palisade.decision, 'alert');
    assert.match(a[0].palisade.reason, /not banned: spoofed flood/);
    assert.equal(a[0].palisade.evidence.spoofed, true);
    const st = JSON.parse(l.cli(['status', '--json']).stdout);
    assert.equal(st.mitigation.in_force.length, 1, JSON.stringify(st.mitigation));
    assert.match(st.mitigation.in_force[0].id, new RegExp(`^syn_flood:${l.n.victim.replace(/\./g, '\\.')}:80$`));
    flood.kill('SIGKILL');
    await exited(flood);
    // The flood ends after its hold (3 s), the mitigation after its own (3 s).
    await until('the mitigation withdrawn', () => mitigationChains(l) === '', 20000);
    await until('its withdrawal in EVE', () => events(l, 'flood').some((e) => e.flood.phase === 'mitigation_withdrawn'), 5000);
    const phases = events(l, 'flood').map((e) => e.flood.phase);
    for (const ph of ['start', 'mitigation_applied', 'end', 'mitigation_withdrawn']) assert.ok(phases.includes(ph), `${ph} in ${phases.join(',')}`);
    assert.ok(withMit >= 0.9, `with mitigation ${withMit}`);
    await stop(p);
  });

  it('ICMP and UDP floods, and a DNS reflection against the spoofed victim, are reported with their kinds; nobody is banned', { timeout: 120000 }, async (t: TestContext) => {
    const l = await lab(t, 'lc', 82, 'nftables', FAST);
    // A resolver in the benign namespace that answers each query with 1,200 bytes.
    const resolver = bg(
      l,
      l.n.ns.b,
      `${process.execPath} -e "const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send(Buffer.alloc(1200,7),r.port,r.address));s.bind(53,'${l.n.benign}',()=>console.log('ready'))"`,
    );
    await waitFor(resolver, 'stdout', /ready/, 10000);
    const p = await l.start();
    const run = (cmd: string): void => {
      const r = l.inNs(l.n.ns.a, cmd, 60000);
      assert.ok(r.code === 0 || /packets transmitted/.test(r.stderr + r.stdout), `${cmd}: ${r.stderr}`);
    };
    run(`hping3 -q --icmp -i u100 -c 10000 -a ${l.n.extra[0]} -I ${l.n.attackerIf} ${l.n.victim}`);
    run(`hping3 -q --udp -p 9999 -i u20 -c 60000 -a ${l.n.extra[1]} -I ${l.n.attackerIf} ${l.n.victim}`);
    // Queries spoofed from the victim: the answers go to it.
    run(`hping3 -q --udp -p 53 -d 40 -i u200 -c 5000 -a ${l.n.victim} -I ${l.n.attackerIf} ${l.n.benign}`);
    await until('three floods reported', () => ['icmp_flood', 'udp_flood', 'udp_amplification'].every((k) => alertsOf(l, k).length > 0), 15000);
    assert.equal(alertsOf(l, 'icmp_flood')[0].dest_ip, l.n.victim);
    assert.equal(alertsOf(l, 'udp_flood')[0].dest_port, 9999);
    const amp = alertsOf(l, 'udp_amplification')[0];
    assert.equal(amp.dest_ip, l.n.victim);
    assert.equal(amp.src_ip, l.n.benign, 'the reflector');
    t.diagnostic(`amplification factor ${amp.palisade.evidence.amplification_factor}`);
    assert.ok(amp.palisade.evidence.amplification_factor > 10);
    assert.equal(events(l, 'alert').filter((e) => e.palisade.decision === 'ban').length, 0, 'UDP and ICMP sources prove nothing: nobody is banned');
    await stop(p);
  });

  it('heavy benign traffic raises no flood: wrk with 200 connections, a 1 GB download, a burst of DNS queries', { timeout: 180000 }, async (t: TestContext) => {
    const l = await lab(t, 'ld', 83, 'nftables', FAST);
    // A 1 GB file server in the benign namespace; a DNS responder on the victim.
    const server = bg(
      l,
      l.n.ns.b,
      `${process.execPath} -e "const c=Buffer.alloc(1<<20);require('http').createServer((q,r)=>{let n=0;const w=()=>{while(n<1024){n++;if(!r.write(c))return r.once('drain',w)}r.end()};w()}).listen(8000,'${l.n.benign}',()=>console.log('ready'))"`,
    );
    await waitFor(server, 'stdout', /ready/, 10000);
    const dns = bg(
      l,
      l.n.ns.v,
      `${process.execPath} -e "const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send(m,r.port,r.address));s.bind(53,'${l.n.victim}',()=>console.log('ready'))"`,
    );
    await waitFor(dns, 'stdout', /ready/, 10000);
    const p = await l.start();
    const w = l.inNs(l.n.ns.b, `wrk -t 2 -c 200 -d 5s http://${l.n.victim}:80/`, 60000);
    assert.equal(w.code, 0, w.stderr);
    t.diagnostic(`wrk: ${(/Requests\/sec:\s+(\S+)/.exec(w.stdout) ?? [])[1]} requests/s`);
    const d = l.inNs(l.n.ns.v, `curl -s -o /dev/null -w '%{size_download} %{speed_download}' http://${l.n.benign}:8000/`, 120000);
    assert.equal(d.stdout.split(' ')[0], String(1 << 30), d.stderr);
    t.diagnostic(`1 GB download at ${Math.round(Number(d.stdout.split(' ')[1]) / 1e6)} MB/s`);
    // 5,000 queries in about a second, from one client.
    const q = l.inNs(
      l.n.ns.b,
      `${process.execPath} -e "const s=require('dgram').createSocket('udp4');let got=0,sent=0;s.on('message',()=>{if(++got===5000){console.log(got);process.exit(0)}});const q=Buffer.alloc(40,1);const go=()=>{for(let i=0;i<50&&sent<5000;i++,sent++)s.send(q,53,'${l.n.victim}');if(sent<5000)setTimeout(go,10)};s.bind(0,'${l.n.benign}',go);setTimeout(()=>{console.log(got);process.exit(0)},5000)"`,
      20000,
    );
    t.diagnostic(`DNS burst: ${q.stdout.trim()} answers of 5000`);
    await sleep(2000);
    assert.deepEqual(events(l, 'flood'), []);
    assert.deepEqual(events(l, 'alert').map((e) => `${e.palisade.kind} ${e.src_ip}`), []);
    await stop(p);
  });

  it('fragmented scans: nmap -sS -f, -sS -f -f and -sF --mtu 16 are reported and marked fragmented; -sF --mtu 24 sends whole probes', { timeout: 180000 }, async (t: TestContext) => {
    const l = await lab(t, 'le', 84, 'nftables', FAST);
    // On the bridge port, as on a physical interface: the bridge device itself shows datagrams the
    // kernel has already reassembled (br_netfilter's conntrack defrag, which mitigation turns on).
    const p = await l.start({}, ['-i', 'pva']);
    const scans = [
      { src: l.n.extra[0]!, args: '-sS -f', kind: 'syn_scan', fragmented: true },
      { src: l.n.extra[1]!, args: '-sS -f -f', kind: 'syn_scan', fragmented: true },
      { src: l.n.extra[2]!, args: '-sF --mtu 16', kind: 'fin_scan', fragmented: true },
      { src: l.n.extra[3]!, args: '-sF --mtu 24', kind: 'fin_scan', fragmented: false },
    ];
    for (const s of scans) {
      const r = l.inNs(l.n.ns.a, `nmap -n -Pn ${s.args} -e ${l.n.attackerIf} -S ${s.src} --max-retries 1 -p 1-100 ${l.n.victim}`, 120000);
      assert.equal(r.code, 0, r.stderr);
    }
    await until('every scan reported', () => scans.every((s) => events(l, 'alert').some((e) => e.src_ip === s.src)), 15000);
    for (const s of scans) {
      const a = events(l, 'alert').filter((e) => e.src_ip === s.src);
      assert.deepEqual([...new Set(a.map((e) => e.palisade.kind))], [s.kind], `${s.args}`);
      assert.equal(a[0].palisade.evidence.fragmented, s.fragmented, `${s.args}: ${JSON.stringify(a[0].palisade.evidence.fingerprints)}`);
    }
    const st = JSON.parse(l.cli(['status', '--json']).stdout);
    t.diagnostic(`status: ${JSON.stringify(st.mitigation)}`);
    await stop(p);
  });
});
