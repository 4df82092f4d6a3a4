// The enforcement benchmark, run by bench.ts inside a network namespace it creates (root and nft
// needed): reaction time from a notice to its address in the kernel's nftables set (decide ->
// enforce -> `nft -f` applied), one notice at a time and in a burst, with `nft` process start as
// the baseline; and a bulk load of 100,000 addresses into the set in one batch, checked by
// reading the set back, against the seed's method (one `iptables -A` per address).

import { spawnSync } from 'node:child_process';
import { defaultConfig } from '../src/config/load.js';
import { IpAddr } from '../src/core/addr.js';
import type { Notice } from '../src/core/notice.js';
import { Policy, policyConfig } from '../src/decide/policy.js';
import { Enforcer } from '../src/enforce/enforcer.js';
import { NftablesBackend } from '../src/enforce/nftables.js';

const SINGLE = Number(process.argv[2] ?? 300);
const BURST = Number(process.argv[3] ?? 200);
const BULK = Number(process.argv[4] ?? 100000);
const SEED_N = Number(process.argv[5] ?? 500);

function pct(xs: number[], q: number): number {
  const a = [...xs].sort((x, y) => x - y);
  return Math.round(a[Math.min(a.length - 1, Math.floor(q * a.length))]! * 100) / 100;
}

let id = 0;
function notice(a: number, now: number): Notice {
  return {
    id: ++id,
    kind: 'syn_scan',
    detector: 'port_scan',
    tsSec: Math.floor(now),
    tsNsec: 0,
    src: IpAddr.v4(a),
    dst: null,
    srcPort: 0,
    dstPort: 0,
    proto: 6,
    severity: 2,
    signatureId: 1,
    signature: 'bench',
    category: 'bench',
    evidence: {},
  };
}

function elementCount(): number {
  const r = spawnSync('nft', ['-j', 'list', 'set', 'inet', 'palisade', 'ban4'], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const json = JSON.parse(r.stdout) as { nftables: { set?: { elem?: unknown[] } }[] };
  return json.nftables.reduce((n, x) => n + (x.set?.elem?.length ?? 0), 0);
}

async function main(): Promise<void> {
  const cfg = defaultConfig();
  cfg.block.max_per_minute = 1e6;
  cfg.block.max_active = 1e7;
  const policy = new Policy(policyConfig(cfg));
  const backend = new NftablesBackend('palisade');
  const enforcer = new Enforcer(backend, { retryInitial: 1, retryMax: 1 });
  await enforcer.start();
  const now = (): number => Date.now() / 1000;

  // Baseline: starting nft itself, the floor of any commit through the nft binary.
  const spawnMs: number[] = [];
  for (let i = 0; i < 50; i++) {
    const t0 = performance.now();
    spawnSync('nft', ['list', 'tables']);
    spawnMs.push(performance.now() - t0);
  }

  // One notice at a time: decide, queue, commit, applied.
  const single: number[] = [];
  for (let i = 0; i < SINGLE; i++) {
    const t0 = performance.now();
    const d = policy.decide(notice(0xc6120000 + 0x100 + i, now()), now());
    enforcer.ban(d.ban!);
    await new Promise<void>((r) => (enforcer.onCommit = r));
    single.push(performance.now() - t0);
  }

  // A burst: BURST notices in one go (a distributed scan); each one's time to the kernel.
  const t0 = performance.now();
  const done = new Promise<void>((resolve) => {
    enforcer.onCommit = () => {
      if (backend.pending === 0) resolve();
    };
  });
  for (let i = 0; i < BURST; i++) enforcer.ban(policy.decide(notice(0xc6130000 + i, now()), now()).ban!);
  await done;
  const burstTotal = performance.now() - t0;
  enforcer.onCommit = null;
  const lat = enforcer.latencyPercentiles();

  // Bulk: BULK new addresses in one batch.
  const before = elementCount();
  const until = now() + 3600;
  for (let i = 0; i < BULK; i++) {
    const a = IpAddr.v4(0x0a000000 + i * 3);
    const scope = policy.scopeOf(a);
    backend.add({ key: scope.toString(), scope, until });
  }
  const b0 = performance.now();
  await backend.commit(now());
  const bulkMs = performance.now() - b0;
  const after = elementCount();

  // The seed's method for comparison: one iptables rule per address, one process each.
  spawnSync('iptables', ['-N', 'seedbench']);
  const s0 = performance.now();
  for (let i = 0; i < SEED_N; i++) spawnSync('iptables', ['-w', '-A', 'seedbench', '-s', `10.200.${i >> 8}.${i & 255}`, '-j', 'DROP']);
  const seedMsPer = (performance.now() - s0) / SEED_N;

  const out = {
    nft_spawn_ms: { p50: pct(spawnMs, 0.5), p99: pct(spawnMs, 0.99) },
    reaction_single_ms: { p50: pct(single, 0.5), p99: pct(single, 0.99), max: pct(single, 1), notices: SINGLE },
    reaction_burst: { notices: BURST, all_in_kernel_ms: Math.round(burstTotal * 100) / 100 },
    enforcer_latency_ms: lat,
    bulk: { addresses: BULK, seconds: Math.round(bulkMs) / 1000, in_set_before: before, in_set_after: after },
    seed_iptables_per_address_ms: Math.round(seedMsPer * 100) / 100,
    seed_extrapolated_seconds_for_bulk: Math.round((seedMsPer * BULK) / 100) / 10,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

void main().then(() => process.exit(0));
