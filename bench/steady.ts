// Steady-state engine throughput, for profiling work (not part of `npm run bench`): loads a classic
// little-endian microsecond pcap into memory, then runs the engine over it several times, each
// pass on a fresh Engine, and prints every pass's packets/s. The first pass is what a replay
// sees (JIT warm-up included); the best of the later ones is the pipeline's own speed, free of
// file reading. Compare builds in separate processes, pinned, interleaved:
//   taskset -c 1 node dist/bench/steady.js [--dist DIR] [--config FILE] [--passes N] capture.pcap
// `--dist` names another build's dist/ (a checkout of older code) to time instead of this one.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

function opt(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const file = process.argv[process.argv.length - 1]!;
const dist = resolve(opt('dist') ?? fileURLToPath(new URL('../', import.meta.url)));
const configFile = opt('config');
const passes = Number(opt('passes') ?? 5);

const { Engine } = (await import(pathToFileURL(`${dist}/src/pipeline/engine.js`).href)) as typeof import('../src/pipeline/engine.js');
const { loadConfig, defaultConfig } = (await import(pathToFileURL(`${dist}/src/config/load.js`).href)) as typeof import('../src/config/load.js');

const buf = readFileSync(file);
if (buf.readUInt32LE(0) !== 0xa1b2c3d4) throw new Error(`${file}: not a little-endian microsecond pcap (what tools/gen-capture writes)`);
const linktype = buf.readUInt32LE(20) & 0x0fffffff;
const offs: number[] = [];
for (let pos = 24; pos + 16 <= buf.length; pos += 16 + buf.readUInt32LE(pos + 8)) offs.push(pos);

const pps: number[] = [];
for (let pass = 0; pass < passes; pass++) {
  const engine = new Engine(configFile ? loadConfig(configFile) : defaultConfig(), { outputs: null });
  const p = engine.packet;
  const t0 = process.hrtime.bigint();
  for (const o of offs) {
    p.tsSec = buf.readUInt32LE(o);
    p.tsNsec = buf.readUInt32LE(o + 4) * 1000;
    p.caplen = buf.readUInt32LE(o + 8);
    p.wirelen = Math.max(p.caplen, buf.readUInt32LE(o + 12));
    p.linktype = linktype;
    p.ifIndex = 0;
    p.data = buf;
    p.off = o + 16;
    engine.process();
  }
  engine.finish();
  pps.push(Math.round(offs.length / (Number(process.hrtime.bigint() - t0) / 1e9)));
}
process.stdout.write(`${JSON.stringify({ packets: offs.length, first: pps[0], best_after_first: pps.length > 1 ? Math.max(...pps.slice(1)) : null, passes: pps })}\n`);
