#!/usr/bin/env node
// The `palisade` command line: run (live), replay (capture files), config check / print.
// Operator commands: status, bans list, ban, unban, history (daemon over the control socket, or
// the database when none runs). Exit codes: 0 success, 1 internal error, 2 usage or config
// error, 3 capture-file error, 4 live-capture error, 5 output error, 6 firewall error, 7 state
// error, 8 control-socket error, 9 protected address.

import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { configToYaml, loadConfig } from '../config/load.js';
import { parseDuration } from '../config/units.js';
import type { Request } from '../control/protocol.js';
import type { BanView } from '../pipeline/operator.js';
import { formatBanLine, formatBanTable, operate } from './operator.js';
import { PalisadeError } from '../core/errors.js';
import { reportError } from './errors.js';
import { replayCommand } from './replay.js';
import { runCommand } from './run.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command();
  program
    .name('palisade')
    .description('Network firewall and intrusion detection: live capture or capture-file replay through one pipeline.')
    .version(pkg.version, '-V, --version')
    .showHelpAfterError()
    .exitOverride();

  program
    .command('run')
    .description('protect the host: capture live on an interface and run the pipeline until stopped')
    .option('-i, --interface <iface>', 'interface to capture on (default: the default-route interface)')
    .option('-c, --config <file>', 'YAML config file (default: the embedded defaults)')
    .option('-f, --filter <bpf>', 'BPF capture filter (overrides capture.filter)')
    .option('--dry-run', 'never touch the firewall; log decisions only', false)
    .option('--flush-on-exit', 'remove every ban when stopping (default: bans stay until they expire)', false)
    .action(async (o: { interface?: string; config?: string; filter?: string; dryRun: boolean; flushOnExit: boolean }) => {
      const cfg = loadConfig(o.config);
      if (o.interface) cfg.capture.interface = o.interface;
      if (o.filter !== undefined) cfg.capture.filter = o.filter;
      setExit(await runCommand(cfg, { dryRun: o.dryRun, flushOnExit: o.flushOnExit }));
    });

  /** Runs an operator request and prints its result (JSON with --json). */
  const operatorAction = async (configFile: string | undefined, req: Request, print: (r: unknown) => string, json = false): Promise<void> => {
    const out = await operate(loadConfig(configFile), req);
    for (const w of out.warnings) process.stderr.write(`palisade: warning: ${w}\n`);
    process.stdout.write(json ? `${JSON.stringify(out.result, null, 2)}\n` : print(out.result));
  };
  const json = (r: unknown): string => `${JSON.stringify(r, null, 2)}\n`;

  program
    .command('status')
    .description('show the daemon (or, when none runs, the database): bans, counters, firewall health, protected addresses')
    .option('-c, --config <file>', 'YAML config file (default: the embedded defaults)')
    .action((o: { config?: string }) => operatorAction(o.config, { cmd: 'status' }, json));

  const bans = program.command('bans').description('the bans in force');
  bans
    .command('list')
    .description('list the bans in force with their remaining time')
    .option('-c, --config <file>', 'YAML config file (default: the embedded defaults)')
    .option('--json', 'print JSON', false)
    .action((o: { config?: string; json: boolean }) => operatorAction(o.config, { cmd: 'list' }, (r) => formatBanTable(r as BanView[]), o.json));

  program
    .command('ban')
    .description('ban an address or CIDR now (refused, with the reason, for protected addresses)')
    .argument('<addr>', 'an IPv4 or IPv6 address, or a CIDR')
    .option('--for <duration>', 'how long, e.g. 30m, 1h, 7d (default: the policy duration for this offence)')
    .option('--reason <text>', 'why, for the record')
    .option('-c, --config <file>', 'YAML config file (default: the embedded defaults)')
    .option('--json', 'print JSON', false)
    .action((addr: string, o: { for?: string; reason?: string; config?: string; json: boolean }) => {
      let seconds: number | null = null;
      if (o.for !== undefined) {
        seconds = parseDuration(o.for);
        if (seconds === null || seconds <= 0) throw new PalisadeError('PAL_ERR_USAGE', `--for ${JSON.stringify(o.for)}: expected a duration such as 30m, 1h or 7d`);
      }
      return operatorAction(o.config, { cmd: 'ban', target: addr, seconds, reason: o.reason ?? null }, (r) => formatBanLine(r as BanView), o.json);
    });

  program
    .command('unban')
    .description('lift the bans on an address or CIDR now')
    .argument('<addr>', 'an IPv4 or IPv6 address, or a CIDR')
    .option('-c, --config <file>', 'YAML config file (default: the embedded defaults)')
    .option('--json', 'print JSON', false)
    .action((addr: string, o: { config?: string; json: boolean }) =>
      operatorAction(
        o.config,
        { cmd: 'unban', target: addr },
        (r) => {
          const lifted = r as BanView[];
          return lifted.length ? lifted.map((b) => `${b.scope} unbanned\n`).join('') : `${addr}: no ban in force\n`;
        },
        o.json,
      ),
    );

  program
    .command('history')
    .description('the bans and notices recorded for an address or CIDR, newest first')
    .argument('<addr>', 'an IPv4 or IPv6 address, or a CIDR')
    .option('-c, --config <file>', 'YAML config file (default: the embedded defaults)')
    .action((addr: string, o: { config?: string }) => operatorAction(o.config, { cmd: 'history', target: addr }, json));

  program
    .command('replay')
    .description('run the pipeline over capture files (pcap or pcapng; "-" reads stdin) as fast as they can be read')
    .argument('<files...>', 'capture files, replayed in order as one stream')
    .option('-c, --config <file>', 'YAML config file (default: the embedded defaults)')
    .option('--json', 'print the summary as one JSON document', false)
    .addOption(new Option('--eve <file>', 'write EVE JSON events to this file ("-" for stdout)'))
    .option('-q, --quiet', 'no progress line', false)
    .action(async (files: string[], o: { config?: string; json: boolean; eve?: string; quiet: boolean }) => {
      const cfg = loadConfig(o.config);
      if (o.json && o.eve === '-') throw new PalisadeError('PAL_ERR_USAGE', '--json and --eve - both want stdout; give --eve a file');
      const { exitCode } = await replayCommand(files, cfg, { json: o.json, eve: o.eve, quiet: o.quiet }, pkg.version);
      setExit(exitCode);
    });

  const config = program.command('config').description('check or show configuration');
  config
    .command('check')
    .description('validate a config file; exit 0 when valid, 2 with located errors when not')
    .argument('<file>', 'YAML config file')
    .action((file: string) => {
      loadConfig(file);
      process.stdout.write(`${file}: ok\n`);
    });
  config
    .command('print')
    .description('show the effective config, defaults included')
    .option('-c, --config <file>', 'YAML config file (default: the embedded defaults)')
    .action((o: { config?: string }) => {
      process.stdout.write(configToYaml(loadConfig(o.config)));
    });
  return program;
}

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version exit 0; anything else commander rejects is a usage error.
      return e.exitCode === 0 ? 0 : 2;
    }
    return reportError(e);
  }
  return code;
}

/**
 * Exits once stdout and stderr have drained (a large write to a pipe completes asynchronously).
 * Exiting explicitly matters after live capture: node_pcap can leave its poll handle referenced
 * after close (see capture/live.ts), which would keep the process alive.
 */
function exitAfterFlush(code: number): void {
  let pending = 2;
  const done = (): void => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
}

main(process.argv).then(exitAfterFlush, (e: unknown) => exitAfterFlush(reportError(e)));
