// `palisade run`: live protection on an interface. Opens the capture, runs the pipeline until
// SIGINT or SIGTERM, reopens event files on SIGHUP, and logs its own operation as JSON on stderr.

import { pino } from 'pino';
import type { Config } from '../config/schema.js';
import { Outputs } from '../output/outputs.js';
import { Engine } from '../pipeline/engine.js';
import { startLive } from '../pipeline/run.js';

export interface RunOptions {
  dryRun: boolean;
}

export async function runCommand(cfg: Config, opts: RunOptions): Promise<number> {
  const log = pino({ level: cfg.logging.level, base: { pid: process.pid } }, pino.destination({ dest: 2, sync: true }));
  const outputs = Outputs.fromConfig(cfg.outputs);
  const engine = new Engine(cfg, { outputs });
  const c = cfg.capture;
  const live = startLive(
    engine,
    { iface: c.interface, filter: c.filter, snaplen: c.snaplen, bufferSize: c.buffer_size, promiscuous: c.promiscuous, timeoutMs: c.timeout_ms },
    (msg) => log.warn(msg),
  );
  log.info(
    {
      interface: live.source.name,
      linktype: live.source.linktypes[0],
      filter: c.filter || null,
      snaplen: c.snaplen,
      detectors: engine.detectors.map((d) => d.name),
      dry_run: opts.dryRun,
      eve: cfg.outputs.eve.enabled ? cfg.outputs.eve.filename : null,
    },
    'capture started',
  );
  if (opts.dryRun) log.info('dry run: decisions are logged, the firewall is never touched');

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    live.stop();
  };
  const onInt = (): void => stop('SIGINT');
  const onTerm = (): void => stop('SIGTERM');
  const onHup = (): void => {
    outputs.reopen();
    log.info('event files reopened (SIGHUP)');
  };
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  process.on('SIGHUP', onHup);
  try {
    const report = await live.done;
    const s = engine.captureStats();
    log.info(
      {
        packets: report.packets,
        kernel_packets: s.kernelPackets,
        kernel_drops: s.kernelDrops,
        kernel_ifdrops: s.kernelIfDrops,
        alerts: engine.policy.alerts,
      },
      'capture stopped',
    );
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    process.off('SIGHUP', onHup);
    outputs.close();
  }
  return 0;
}
