// The live capture benchmark: tcpreplay (-K, preloaded) pushes the bench mix over a veth pair
// into a namespace where `palisade run --dry-run` listens; then, in the same run and at the same
// rate, tcpdump listens instead. Each rate is sent for at least --seconds; a second pass repeats
// the rates while another process keeps one core busy. Reports, per rate, what was sent and what
// each listener received and dropped, and the highest rate at which each drops under 0.1%.
// Needs root, iproute2, tcpreplay and tcpdump. Prints JSON on stdout; progress on stderr.
// Also reports the CPU seconds of Palisade's JS thread and capture thread in each pass.
// Usage: node dist/bench/live.js [--seconds S] [--rates 50000,100000,200000,top] [--timeout-ms N]

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { removeNamespaces, vethPair } from '../tools/veth.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const GEN = fileURLToPath(new URL('../tools/gen-capture.js', import.meta.url));
const OUT_DIR = join(REPO, 'bench/out/live');
const LOSSLESS = 0.001;

const argOf = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const SECONDS = Number(argOf('seconds') ?? 10);
const RATES = (argOf('rates') ?? '50000,100000,200000,top').split(',').map((r) => (r === 'top' ? 'top' : Number(r)));
/** Packets in the capture file; tcpreplay loops it to fill the seconds. */
const FILE_PACKETS = 500_000;

const sh = (cmd: string): { code: number; out: string } => {
  const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { code: r.status ?? -1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
};
const must = (cmd: string): string => {
  const r = sh(cmd);
  if (r.code !== 0) throw new Error(`${cmd}: ${r.out}`);
  return r.out;
};
const log = (msg: string): void => void process.stderr.write(`${msg}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const ID = process.pid % 100000;
const NS_TX = `pal-ltx-${ID}`;
const NS_RX = `pal-lrx-${ID}`;
const IF_TX = `plt${ID}`;
const IF_RX = `plr${ID}`;

const PAIR = { nsA: NS_TX, nsB: NS_RX, ifA: IF_TX, ifB: IF_RX, addrA: '198.18.90.1/24', addrB: '198.18.90.2/24' };

function inRx(args: string[]): ChildProcess {
  return spawn('ip', ['netns', 'exec', NS_RX, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

function collect(c: ChildProcess): { text: () => string; exited: Promise<number> } {
  let text = '';
  c.stdout?.on('data', (d) => (text += d));
  c.stderr?.on('data', (d) => (text += d));
  const exited = new Promise<number>((r) => c.on('exit', (code, sig) => r(code ?? (sig ? 128 : -1))));
  return { text: () => text, exited };
}

async function waitFor(get: () => string, re: RegExp, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!re.test(get())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${re}: ${get().slice(-2000)}`);
    await sleep(50);
  }
}

interface Sent {
  packets: number;
  seconds: number;
  pps: number;
}

/** Sends the capture at `rate` packets/s (or top speed) for about SECONDS. */
function send(file: string, rate: number | 'top'): Sent {
  // Looped as often as it takes, for SECONDS (at top speed the file lasts well under a second).
  const speed = rate === 'top' ? ['-t'] : ['--pps', String(rate)];
  const r = sh(`ip netns exec ${NS_TX} tcpreplay -q -K --loop 100000 --duration ${SECONDS} ${speed.join(' ')} -i ${IF_TX} ${file} 2>&1`);
  const m = /Actual: (\d+) packets \(\d+ bytes\) sent in ([\d.]+) seconds/.exec(r.out);
  if (!m) throw new Error(`tcpreplay: ${r.out}`);
  const packets = Number(m[1]);
  const seconds = Number(m[2]);
  return { packets, seconds, pps: Math.round(packets / seconds) };
}

interface Received {
  received: number;
  kernel_drops: number;
  ring_drops: number;
  loss: number;
}

/** CPU seconds per thread name of a process (utime + stime from /proc/PID/task/TID/stat). */
function threadCpu(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  const tick = 100; // USER_HZ
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const m = /^\d+ \((.*)\) (.*)$/s.exec(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').trim());
    if (!m) continue;
    const f = m[2]!.split(' ');
    const name = m[1]! === 'node' || m[1]! === 'palisade' ? 'js' : m[1]!;
    out[name] = Math.round(((out[name] ?? 0) + (Number(f[11]) + Number(f[12])) / tick) * 100) / 100;
  }
  return out;
}

async function palisadePass(file: string, rate: number | 'top', dir: string): Promise<Received & { sent: Sent; cpu: Record<string, number> }> {
  const eve = join(dir, 'eve.json');
  rmSync(eve, { force: true });
  const cfg = join(dir, 'palisade.yaml');
  writeFileSync(
    cfg,
    `outputs:\n  eve:\n    filename: ${eve}\n  stdout:\n    enabled: false\nstats:\n  interval: 1h\n` +
      `enforce:\n  backend: dry-run\nstate:\n  path: ''\ncontrol:\n  socket: ''\n` +
      (argOf('timeout-ms') !== undefined ? `capture:\n  timeout_ms: ${Number(argOf('timeout-ms'))}\n` : ''),
  );
  const p = inRx([process.execPath, CLI, 'run', '-i', IF_RX, '-c', cfg]);
  const out = collect(p);
  await waitFor(out.text, /"msg":"capture started"/, 20000);
  const sent = send(file, rate);
  await sleep(1500);
  const cpu = threadCpu(p.pid!);
  p.kill('SIGTERM');
  const code = await out.exited;
  if (code !== 0) throw new Error(`palisade run exited ${code}: ${out.text().slice(-2000)}`);
  const stats = readFileSync(eve, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((e) => e.event_type === 'stats')
    .pop().stats.capture;
  const lost = stats.kernel_drops + stats.ring_drops;
  return { sent, received: stats.packets, kernel_drops: stats.kernel_drops, ring_drops: stats.ring_drops, loss: lost / sent.packets, cpu };
}

async function tcpdumpPass(file: string, rate: number | 'top'): Promise<Received & { sent: Sent }> {
  const p = inRx(['tcpdump', '-i', IF_RX, '-n', '-B', String(32 * 1024), '-w', '/dev/null']);
  const out = collect(p);
  await waitFor(out.text, /listening on/, 20000);
  const sent = send(file, rate);
  await sleep(1500);
  p.kill('SIGINT');
  await out.exited;
  const got = /(\d+) packets received by filter/.exec(out.text());
  const dropped = /(\d+) packets dropped by kernel/.exec(out.text());
  if (!got || !dropped) throw new Error(`tcpdump: ${out.text()}`);
  const kernelDrops = Number(dropped[1]);
  // "received by filter" counts what the kernel accepted, dropped ones included.
  return { sent, received: Number(got[1]) - kernelDrops, kernel_drops: kernelDrops, ring_drops: 0, loss: kernelDrops / sent.packets };
}

/** One core kept busy by a plain spin loop (a server's own work). */
function busyCore(): ChildProcess {
  return spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('needs root');
  for (const t of ['ip', 'tcpreplay', 'tcpdump']) if (sh(`command -v ${t}`).code !== 0) throw new Error(`needs ${t}`);
  mkdirSync(OUT_DIR, { recursive: true });
  const file = join(OUT_DIR, `mix-${FILE_PACKETS}.pcap`);
  if (!existsSync(file) || statSync(file).size === 0) must(`node ${GEN} ${file} ${FILE_PACKETS} 11`);
  const rows: Record<string, unknown>[] = [];
  let busy: ChildProcess | null = null;
  try {
    vethPair(PAIR);
    for (const load of ['quiet', 'one core busy'] as const) {
      if (load !== 'quiet') busy = busyCore();
      for (const rate of RATES) {
        log(`live: ${rate === 'top' ? 'top speed' : `${rate} packets/s`}, ${load}`);
        const pal = await palisadePass(file, rate, OUT_DIR);
        const tcd = await tcpdumpPass(file, rate);
        rows.push({
          load,
          rate: rate === 'top' ? 'top' : rate,
          palisade: { sent: pal.sent.packets, sent_pps: pal.sent.pps, received: pal.received, kernel_drops: pal.kernel_drops, ring_drops: pal.ring_drops, loss: round(pal.loss), cpu_s: pal.cpu },
          tcpdump: { sent: tcd.sent.packets, sent_pps: tcd.sent.pps, received: tcd.received, kernel_drops: tcd.kernel_drops, loss: round(tcd.loss) },
        });
      }
      busy?.kill('SIGKILL');
      busy = null;
    }
  } finally {
    busy?.kill('SIGKILL');
    removeNamespaces(NS_TX, NS_RX);
  }
  const best = (load: string, who: 'palisade' | 'tcpdump'): number => {
    let b = 0;
    for (const r of rows as { load: string; palisade: { loss: number; sent_pps: number }; tcpdump: { loss: number; sent_pps: number } }[]) {
      if (r.load === load && r[who].loss < LOSSLESS) b = Math.max(b, r[who].sent_pps);
    }
    return b;
  };
  const summary = Object.fromEntries(
    ['quiet', 'one core busy'].map((load) => {
      const p = best(load, 'palisade');
      const t = best(load, 'tcpdump');
      const at = (who: 'palisade' | 'tcpdump'): boolean =>
        (rows as { load: string; rate: unknown; palisade: { loss: number }; tcpdump: { loss: number } }[]).every((r) => r.load !== load || r[who].loss < LOSSLESS);
      return [load, { palisade_lossless_pps: p, tcpdump_lossless_pps: t, ratio: t ? round(p / t) : null, palisade_lossless_at_every_rate: at('palisade'), tcpdump_lossless_at_every_rate: at('tcpdump') }];
    }),
  );
  process.stdout.write(`${JSON.stringify({ sender: 'tcpreplay -K', timeout_ms: argOf('timeout-ms') ?? 'default', seconds: SECONDS, file_packets: FILE_PACKETS, rows, highest_lossless: summary }, null, 2)}\n`);
}

const round = (x: number): number => Math.round(x * 100000) / 100000;

main().catch((e) => {
  process.stderr.write(`live bench: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
