// `palisade run`: live protection on an interface. Starts the daemon (state restored, firewall
// reconciled, control socket open), runs the pipeline until SIGINT or SIGTERM, reopens event
// files on SIGHUP, and logs its own operation on stderr: JSON, or human lines on a terminal
// (see log.ts).

import { pino } from 'pino';
import type { Config } from '../config/schema.js';
import { exitCodeOf, PalisadeError, type ErrorCode } from '../core/errors.js';
import { Outputs } from '../output/outputs.js';
import { Daemon } from '../pipeline/daemon.js';
import { logDestination } from './log.js';

export interface RunOptions {
  dryRun: boolean;
  flushOnExit: boolean;
}

export async function runCommand(cfg: Config, opts: RunOptions): Promise<number> {
  const log = pino({ level: cfg.logging.level, base: { pid: process.pid } }, logDestination(2));
  // An output fault is logged once per fault streak and shown in `status`; protection goes on.
  const outputs = Outputs.fromConfig(cfg.outputs, process.stdout, {
    onError: (e) => log.error({ code: e.code }, e.message),
    onRecovered: (path) => log.info({ path }, 'event output working again'),
  });
  const daemon = new Daemon(cfg, { dryRun: opts.dryRun, flushOnExit: opts.flushOnExit || cfg.enforce.flush_on_exit, log, outputs });
  const engine = daemon.engine;
  let live;
  try {
    // The interface first: a bad one fails before the firewall or the state is touched.
    daemon.openCapture((msg) => log.warn({}, msg));
    await daemon.start();
    live = daemon.capture();
  } catch (e) {
    await daemon.close();
    outputs.close();
    throw e;
  }
  let stopping = false;
  let failure: PalisadeError | null = null;
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
    log.info({}, 'event files reopened (SIGHUP)');
  };
  // The handlers go in before 'capture started' is said: a supervisor (or a test) that signals on
  // that line must never meet the default action, which kills the process.
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  process.on('SIGHUP', onHup);
  const c = cfg.capture;
  log.info(
    {
      interface: live.source.name,
      linktype: live.source.linktypes[0],
      filter: c.filter || null,
      snaplen: c.snaplen,
      detectors: engine.detectors.map((d) => d.name),
      backend: daemon.enforcer.backend.name,
      state: daemon.store?.path ?? null,
      control: cfg.control.socket || null,
      eve: cfg.outputs.eve.enabled ? cfg.outputs.eve.filename : null,
    },
    'capture started',
  );
  if (opts.dryRun) log.info({}, 'dry run: decisions are logged, the firewall is never touched');

  try {
    const report = await live.done;
    const s = engine.captureStats();
    log.info(
      {
        packets: report.packets,
        kernel_packets: s.kernelPackets,
        kernel_drops: s.kernelDrops,
        kernel_ifdrops: s.kernelIfDrops,
        ring_drops: s.ringDrops,
        alerts: engine.policy.alerts,
        bans: engine.policy.banned,
      },
      'capture stopped',
    );
    if (report.error) {
      // The interface went away, or the capture failed: said aloud, and the exit code says so
      // (a service manager restarts the daemon).
      failure = new PalisadeError(report.error.code as ErrorCode, report.error.message);
      log.error({ code: report.error.code }, report.error.message);
    }
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    process.off('SIGHUP', onHup);
    await daemon.close();
    outputs.close();
  }
  return failure ? exitCodeOf(failure) : 0;
}
