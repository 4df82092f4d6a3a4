// `npm run bench`: replay throughput and memory, each against a baseline measured in the same run.
//  1. Generates a capture of N mixed packets (default 2,000,000) with tools/gen-capture.
//  2. Times `palisade replay` on it and tcpdump's BPF pass (`tcp[tcpflags]==tcp-syn`), both
//     pinned to one core (taskset -c 0) and unpinned; median of R runs; reports the ratios. Two
//     pipelines: the default (decode + the example detector, the issue's target) and the same
//     with flow tracking forced on (every stage), to keep the track stage's cost in view.
//  3. Streams a larger capture through stdin (`gen - | palisade replay -`) to show that peak RSS
//     does not grow with the input.
//  4. Runs the seed's Scapy loop (../shared/bench/seed_equiv.py) when /usr/bin/python3 has scapy,
//     on a smaller capture, and compares packets/s and sources flagged.
//  5. With `--previous DIR` (a built checkout of the previous code), times that build's replay
//     beside this one's, interleaved in the same runs, and reports the ratio new / previous.
//  6. Floods and fragments: a generated spoofed SYN flood (--flood-packets, default 5,000,000,
//     every packet from a new random source) and a fragment-heavy capture (N packets, about half
//     IP fragments), each replayed with the defaults beside tcpdump in the same runs, with peak
//     RSS; the fragment capture also with defrag off, to show what reassembly costs.
//  7. Live capture (bench/live.ts, root only): tcpreplay over a veth pair at 50k, 100k, 200k
//     packets/s and top speed, quiet and with one core busy; Palisade's received and dropped
//     packets beside tcpdump's, and the highest rate each keeps under 0.1% loss.
// Usage: npm run bench -- [--packets N] [--runs R] [--stream N] [--scapy-packets N] [--flood-packets N] [--previous DIR]
//                         [--live-seconds S] [--no-live] [--live-only] [--out FILE]

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultConfig } from '../src/config/load.js';
import { enabledNames } from '../src/detect/registry.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(REPO, 'dist/src/cli/main.js');
const GEN = join(REPO, 'dist/tools/gen-capture.js');
const OUT_DIR = join(REPO, 'bench/out');
const SCAPY = join(REPO, '..', 'shared', 'bench', 'seed_equiv.py');

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

const N = arg('packets', 2_000_000);
const RUNS = arg('runs', 5);
const STREAM = arg('stream', 10_000_000);
const SCAPY_N = arg('scapy-packets', 100_000);
const FLOOD_N = arg('flood-packets', 5_000_000);
const outIdx = process.argv.indexOf('--out');
const OUT = outIdx > 0 ? process.argv[outIdx + 1]! : join(OUT_DIR, 'results.json');
const prevIdx = process.argv.indexOf('--previous');
const PREV_CLI = prevIdx > 0 ? join(process.argv[prevIdx + 1]!, 'dist/src/cli/main.js') : null;

function run(cmd: string, args: string[], opts: { input?: string } = {}): { code: number; stdout: string; stderr: string; seconds: number } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { maxBuffer: 512 << 20, ...opts });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { code: r.status ?? -1, stdout: r.stdout?.toString() ?? '', stderr: r.stderr?.toString() ?? '', seconds };
}

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

function generate(path: string, n: number, seed: number, mix = 'mixed'): void {
  if (existsSync(path) && existsSync(`${path}.n`) && statSync(`${path}.n`).size === String(n).length) return;
  const r = run('node', [GEN, path, String(n), String(seed), mix]);
  if (r.code !== 0) throw new Error(`generator failed: ${r.stderr}`);
  writeFileSync(`${path}.n`, String(n));
}

interface ReplayRun {
  pps: number;
  rss: number;
  alerts: number;
  sources: number;
  /** Floods and reassembly in words. */
  summary: string;
}

function replay(file: string, pin: boolean, config?: string, cli = CLI): ReplayRun {
  const args = [...(pin ? ['-c', '0', 'node'] : []), cli, 'replay', '-q', '--json', ...(config ? ['-c', config] : []), file];
  const r = run(pin ? 'taskset' : 'node', args);
  if (r.code !== 0) throw new Error(`replay failed: ${r.stderr}`);
  const s = JSON.parse(r.stdout);
  const floods = (s.detections.floods ?? []) as { kind: string; victim: string; peak_pps: number; spoofed: boolean }[];
  // Floods by kind: how many victims, the highest peak, and the first victim.
  const byKind = new Map<string, { n: number; peak: number; victim: string; spoofed: boolean }>();
  for (const f of floods) {
    const k = byKind.get(f.kind) ?? { n: 0, peak: 0, victim: f.victim, spoofed: false };
    k.n++;
    k.peak = Math.max(k.peak, f.peak_pps);
    k.spoofed ||= f.spoofed;
    byKind.set(f.kind, k);
  }
  const summary = [
    ...[...byKind].map(([kind, k]) => `${kind} on ${k.n === 1 ? k.victim : `${fmt(k.n)} victims`} (peak ${fmt(k.peak)} pkt/s${k.spoofed ? ', spoofed' : ''})`),
    ...(s.defrag?.reassembled ? [`${fmt(s.defrag.reassembled)} datagrams reassembled from ${fmt(s.defrag.fragments)} fragments`] : []),
  ].join('; ');
  return { pps: s.pps, rss: s.peak_rss_bytes, alerts: s.detections.alerts, sources: s.detections.sources.length, summary };
}

function tcpdumpPps(file: string, pin: boolean, n: number): number {
  const args = ['-r', file, '-w', '/dev/null', 'tcp[tcpflags]==tcp-syn'];
  const r = run(pin ? 'taskset' : 'tcpdump', pin ? ['-c', '0', 'tcpdump', ...args] : args);
  if (r.code !== 0) throw new Error(`tcpdump failed: ${r.stderr}`);
  return n / r.seconds;
}

/**
 * The flood and fragment captures (step 6): the defaults (and the fragments with defrag off),
 * interleaved with tcpdump, median of three.
 */
function specialCaptures(pin: boolean, defragOff: string): Record<string, unknown>[] {
  const flood = join(OUT_DIR, `synflood-${FLOOD_N}.pcap`);
  const frag = join(OUT_DIR, `frag-${N}.pcap`);
  process.stderr.write(`generating a ${fmt(FLOOD_N)}-packet spoofed SYN flood and a ${fmt(N)}-packet fragment-heavy capture\n`);
  generate(flood, FLOOD_N, 11, 'synflood');
  generate(frag, N, 13, 'frag');
  const rows: Record<string, unknown>[] = [];
  const cases: [string, string, number, string | undefined][] = [
    [`spoofed SYN flood, ${fmt(FLOOD_N)} packets`, flood, FLOOD_N, undefined],
    [`fragment-heavy mix, ${fmt(N)} packets`, frag, N, undefined],
    [`fragment-heavy mix, ${fmt(N)} packets`, frag, N, defragOff],
  ];
  for (const [name, file, n, cfg] of cases) {
    run('sh', ['-c', `cat ${file} > /dev/null`]);
    const ours: ReplayRun[] = [];
    const theirs: number[] = [];
    for (let i = 0; i < 3; i++) {
      theirs.push(tcpdumpPps(file, pin, n));
      ours.push(replay(file, pin, cfg));
    }
    const pps = median(ours.map((r) => r.pps));
    const tpps = median(theirs);
    const last = ours[0]!;
    rows.push({
      capture: name,
      pipeline: cfg ? 'defrag off' : 'defaults',
      cores: pin ? 'one core (taskset -c 0)' : 'unpinned',
      runs: 3,
      palisade_pps: pps,
      palisade_pps_runs: ours.map((r) => r.pps),
      tcpdump_pps: Math.round(tpps),
      ratio_vs_tcpdump: Math.round((pps / tpps) * 1000) / 1000,
      peak_rss_mb: Math.round(Math.max(...ours.map((r) => r.rss)) / 1048576),
      notes: last.summary,
    });
  }
  return rows;
}

/** Runs bench/enforce.js in a namespace of its own (root, nft and iptables needed). */
function enforceBench(): Record<string, unknown> | string {
  if (process.getuid?.() !== 0 || !have('nft') || !have('ip')) return 'not run: needs root, nft and ip';
  const ns = `pal-bench-${process.pid}`;
  process.stderr.write('enforcement: reaction time and bulk load (nftables, in a namespace)\n');
  run('ip', ['netns', 'add', ns]);
  try {
    const r = run('ip', ['netns', 'exec', ns, process.execPath, join(REPO, 'dist/bench/enforce.js')]);
    if (r.code !== 0) return `failed: ${r.stderr.slice(0, 500)}`;
    return JSON.parse(r.stdout) as Record<string, unknown>;
  } finally {
    run('ip', ['netns', 'del', ns]);
  }
}

/** Runs bench/live.js (root, tcpreplay, tcpdump and ip needed). */
function liveBench(): Record<string, unknown> | string {
  if (process.argv.includes('--no-live')) return 'not run: --no-live';
  if (process.getuid?.() !== 0 || !have('tcpreplay') || !have('tcpdump') || !have('ip')) return 'not run: needs root, tcpreplay, tcpdump and ip';
  process.stderr.write('live capture: tcpreplay over a veth pair, palisade run beside tcpdump\n');
  const r = spawnSync(process.execPath, [join(REPO, 'dist/bench/live.js'), '--seconds', String(arg('live-seconds', 10))], {
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) return `failed (exit ${r.status})`;
  return JSON.parse(r.stdout.toString()) as Record<string, unknown>;
}

function liveLines(live: Record<string, unknown> | string): string[] {
  if (typeof live === 'string') return [` Live capture: ${live}`];
  const out = [` Live capture (tcpreplay -K over veth, ${live.seconds} s or more per rate):`];
  out.push(`  ${'load'.padEnd(14)} ${'rate'.padStart(8)} ${'sent/s'.padStart(9)}  ${'palisade recv'.padStart(13)} ${'kernel'.padStart(7)} ${'ring'.padStart(6)}  ${'tcpdump recv'.padStart(12)} ${'kernel'.padStart(7)}`);
  for (const r of live.rows as any[]) {
    out.push(
      `  ${String(r.load).padEnd(14)} ${String(r.rate).padStart(8)} ${fmt(r.palisade.sent_pps).padStart(9)}  ${fmt(r.palisade.received).padStart(13)} ${fmt(r.palisade.kernel_drops).padStart(7)} ${fmt(r.palisade.ring_drops).padStart(6)}  ${fmt(r.tcpdump.received).padStart(12)} ${fmt(r.tcpdump.kernel_drops).padStart(7)}`,
    );
  }
  for (const [load, h] of Object.entries(live.highest_lossless as Record<string, any>)) {
    const top = h.palisade_lossless_at_every_rate && h.tcpdump_lossless_at_every_rate ? '; both lossless up to the sender\'s top speed, which differs between passes' : '';
    out.push(`  highest rate under 0.1% loss, ${load}: palisade ${fmt(h.palisade_lossless_pps)}/s, tcpdump ${fmt(h.tcpdump_lossless_pps)}/s (ratio ${h.ratio}${top})`);
  }
  return out;
}

function main(): void {
  mkdirSync(OUT_DIR, { recursive: true });
  if (process.argv.includes('--live-only')) {
    const live = liveBench();
    mkdirSync(dirname(OUT), { recursive: true });
    writeFileSync(OUT, `${JSON.stringify({ date: new Date().toISOString(), live }, null, 2)}\n`);
    process.stdout.write(`${liveLines(live).join('\n')}\n results: ${OUT}\n`);
    return;
  }
  const file = join(OUT_DIR, `bench-${N}.pcap`);
  process.stderr.write(`generating ${fmt(N)} packets into ${file}\n`);
  generate(file, N, 7);
  run('sh', ['-c', `cat ${file} > /dev/null`]); // warm the page cache for both contenders
  const pinAvailable = have('taskset');
  const results: Record<string, unknown> = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    capture: { packets: N, bytes: statSync(file).size },
  };

  // Every detector on by default, for the two baseline pipelines to turn off.
  const SCANS = enabledNames(defaultConfig().detect);
  const config = (name: string, text: string): string => {
    const f = join(OUT_DIR, `${name}.yaml`);
    writeFileSync(f, text);
    return f;
  };
  const offOf = (ds: string[]): string => ds.map((d) => `  ${d}:\n    enabled: false\n`).join('');
  // The previous build may predate some detectors: its copies of the baseline configs turn off
  // only those its own `config check` knows.
  const prevKnows = (d: string): boolean => {
    if (!PREV_CLI) return false;
    const f = config('previous-check', `detect:\n${offOf([d])}`);
    return run('node', [PREV_CLI, 'config', 'check', f]).code === 0;
  };
  const prevScans = PREV_CLI ? SCANS.filter(prevKnows) : SCANS;
  const baselines = (name: string, body: (off: string) => string): [string, string] => [
    config(name, body(offOf(SCANS))),
    prevScans.length === SCANS.length ? join(OUT_DIR, `${name}.yaml`) : config(`${name}-previous`, body(offOf(prevScans))),
  ];
  const pipelines: [string, string | undefined, string | undefined][] = [
    // The engine issue's two pipelines, as a baseline in the same run...
    ['decode + example detector', ...baselines('seed-rule', (off) => `detect:\n  syn_rate:\n    enabled: true\n${off}`)],
    ['decode + flow tracking, no detector', ...baselines('flows-only', (off) => `flow:\n  tracking: on\ndetect:\n${off}`)],
    // ...and the default: every detector on (scans and floods, normal profile), with defrag.
    ['every detector (defaults)', undefined, undefined],
  ];
  const rows: Record<string, unknown>[] = [];
  for (const pin of pinAvailable ? [true, false] : [false]) {
    const label = pin ? 'one core (taskset -c 0)' : 'unpinned';
    process.stderr.write(`replay and tcpdump, ${RUNS} runs each, ${label}\n`);
    const theirs: number[] = [];
    const ours = pipelines.map(() => [] as ReplayRun[]);
    const prev = pipelines.map(() => [] as ReplayRun[]);
    for (let i = 0; i < RUNS; i++) {
      // Interleaved, so that drift in machine speed hits every contender alike.
      theirs.push(tcpdumpPps(file, pin, N));
      pipelines.forEach(([, cfg, prevCfg], k) => {
        ours[k]!.push(replay(file, pin, cfg));
        if (PREV_CLI) prev[k]!.push(replay(file, pin, prevCfg, PREV_CLI));
      });
    }
    const tpps = median(theirs);
    pipelines.forEach(([name], k) => {
      const runs = ours[k]!;
      const pps = median(runs.map((r) => r.pps));
      rows.push({
        pipeline: name,
        cores: pin ? 'one (taskset -c 0)' : 'unpinned',
        palisade_pps: pps,
        palisade_pps_runs: runs.map((r) => r.pps),
        tcpdump_pps: Math.round(tpps),
        tcpdump_pps_runs: theirs.map(Math.round),
        ratio_vs_tcpdump: Math.round((pps / tpps) * 1000) / 1000,
        peak_rss_mb: Math.round(Math.max(...runs.map((r) => r.rss)) / 1048576),
        alerts: runs[0]!.alerts,
        sources_flagged: runs[0]!.sources,
        ...(PREV_CLI
          ? {
              previous_pps: median(prev[k]!.map((r) => r.pps)),
              previous_pps_runs: prev[k]!.map((r) => r.pps),
              ratio_vs_previous: Math.round((pps / median(prev[k]!.map((r) => r.pps))) * 1000) / 1000,
            }
          : {}),
      });
    });
  }
  results.replay = rows;

  if (STREAM > 0) {
    // Two sizes through the same path: peak RSS must not grow with the input.
    const streams: Record<string, number>[] = [];
    for (const n of [Math.round(STREAM / 5), STREAM]) {
      process.stderr.write(`streaming ${fmt(n)} packets through stdin\n`);
      const r = run('sh', ['-c', `node ${GEN} - ${n} 9 | node ${CLI} replay -q --json -`]);
      if (r.code !== 0) throw new Error(`stream replay failed: ${r.stderr}`);
      const s = JSON.parse(r.stdout);
      streams.push({ packets: s.packets, bytes: s.bytes, peak_rss_mb: Math.round(s.peak_rss_bytes / 1048576), pps: s.pps });
    }
    results.stream = streams;
  }

  results.enforce = enforceBench();
  results.live = liveBench();

  results.special = specialCaptures(pinAvailable, config('defrag-off', 'defrag:\n  enabled: false\n'));
  const scapyOk = existsSync(SCAPY) && spawnSync('/usr/bin/python3', ['-c', 'import scapy.all']).status === 0;
  if (scapyOk) {
    const small = join(OUT_DIR, `bench-${SCAPY_N}.pcap`);
    generate(small, SCAPY_N, 7);
    process.stderr.write(`Scapy seed loop on ${fmt(SCAPY_N)} packets\n`);
    const r = run('/usr/bin/python3', [SCAPY, small]);
    const m = /packets=(\d+) blocked=(\d+) seconds=([\d.]+) pps=(\d+)/.exec(r.stdout);
    if (m) {
      const ours = replay(small, pinAvailable, pipelines[0]![1]);
      const main = rows.find((r) => r.pipeline === 'every detector (defaults)') as { palisade_pps: number };
      results.scapy = {
        packets: Number(m[1]),
        pps: Number(m[4]),
        blocked_sources: Number(m[2]),
        palisade_sources_flagged_same_file: ours.sources,
        speedup: Math.round(main.palisade_pps / Number(m[4])),
      };
    }
  } else {
    results.scapy = 'not run: needs /usr/bin/python3 with python3-scapy and ../shared/bench/seed_equiv.py';
  }

  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, `${JSON.stringify(results, null, 2)}\n`);
  const line = (k: string, v: string): string => `  ${k.padEnd(38)} ${v}`;
  const out: string[] = [`Palisade replay benchmark: ${fmt(N)} packets (${fmt((results.capture as { bytes: number }).bytes)} bytes)`];
  for (const r of rows as Record<string, number | string>[]) {
    out.push(` ${r.pipeline}, ${r.cores}:`);
    out.push(line('palisade replay', `${fmt(r.palisade_pps as number)} packets/s (median of ${RUNS})`));
    out.push(line("tcpdump -w /dev/null 'tcp[tcpflags]==tcp-syn'", `${fmt(r.tcpdump_pps as number)} packets/s`));
    out.push(line('ratio palisade / tcpdump', `${r.ratio_vs_tcpdump}`));
    if (r.previous_pps !== undefined) out.push(line('previous code', `${fmt(r.previous_pps as number)} packets/s (ratio new / previous ${r.ratio_vs_previous})`));
    out.push(line('peak RSS', `${r.peak_rss_mb} MB`));
  }
  for (const st of (results.stream as Record<string, number>[] | undefined) ?? []) {
    out.push(` stream through stdin: ${fmt(st.packets!)} packets (${fmt(st.bytes!)} bytes), peak RSS ${st.peak_rss_mb} MB (generator-bound: ${fmt(st.pps!)} packets/s)`);
  }
  for (const r of results.special as Record<string, number | string>[]) {
    out.push(` ${r.capture}, ${r.pipeline}, ${r.cores}:`);
    out.push(line('palisade replay', `${fmt(r.palisade_pps as number)} packets/s (median of ${r.runs}), peak RSS ${r.peak_rss_mb} MB`));
    out.push(line('tcpdump, same runs', `${fmt(r.tcpdump_pps as number)} packets/s (ratio palisade / tcpdump ${r.ratio_vs_tcpdump})`));
    if (r.notes) out.push(line('found', String(r.notes)));
  }
  const sc = results.scapy as Record<string, number> | string;
  if (typeof sc === 'string') out.push(` Scapy baseline: ${sc}`);
  else
    out.push(
      ` Scapy seed loop: ${fmt(sc.pps!)} packets/s on ${fmt(sc.packets!)} packets; palisade is ${fmt(sc.speedup!)}x faster. ` +
        `Sources flagged by the seed rule: Scapy ${sc.blocked_sources}, palisade's syn_rate ${sc.palisade_sources_flagged_same_file}`,
    );
  const en = results.enforce as Record<string, any> | string;
  if (typeof en === 'string') out.push(` Enforcement: ${en}`);
  else {
    out.push(' Enforcement (nftables, in a namespace):');
    out.push(line('notice -> kernel, one at a time', `p50 ${en.reaction_single_ms.p50} ms, p99 ${en.reaction_single_ms.p99} ms (nft start alone: p50 ${en.nft_spawn_ms.p50} ms)`));
    out.push(line(`burst of ${en.reaction_burst.notices} notices`, `all in the kernel after ${en.reaction_burst.all_in_kernel_ms} ms`));
    out.push(line(`bulk ${fmt(en.bulk.addresses)} addresses, one batch`, `${en.bulk.seconds} s (set holds ${fmt(en.bulk.in_set_after)})`));
    out.push(line('seed method (iptables -A per address)', `${en.seed_iptables_per_address_ms} ms each: ~${en.seed_extrapolated_seconds_for_bulk} s for the bulk`));
  }
  out.push(...liveLines(results.live as Record<string, unknown> | string));
  out.push(` results: ${OUT}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

main();
