#!/usr/bin/env node
// The `palisade` command line: run (live), replay (capture files), config check / print.
// Operator commands: status, bans list, ban, unban, history, alerts, top (daemon over the control
// socket, or the database when none runs); each prints a human table, or JSON with --json. Exit codes: 0 success, 1 internal error, 2 usage or config
// error, 3 capture-file error, 4 live-capture error, 5 output error, 6 firewall error, 7 state
// error, 8 control-socket error, 9 protected address.

import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { configToYaml, loadConfig } from '../config/load.js';
import { formatDuration, parseDuration } from '../config/units.js';
import { MAX_BAN_SECONDS, MAX_LIMIT, parseRequest, type Request } from '../control/protocol.js';
import { isPalisadeError, PalisadeError } from '../core/errors.js';
import { escapeControl, MAX_REASON } from '../core/text.js';
import { formatUsageError, reportError } from './errors.js';
import { formatAlerts, formatBan, formatBans, formatHistory, formatStatus, formatTop, formatUnban } from './format.js';
import { operate } from './operator.js';
import { replayCommand } from './replay.js';
import { runCommand } from './run.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

/** The CLI option behind each request field, for usage messages. */
const OPTION_OF: Record<string, string> = { seconds: '--for', reason: '--reason', since: '--since', limit: '--limit', kind: '--kind', target: 'address' };

/**
 * Validates a request the CLI built with the control protocol's own schema (`parseRequest`), so
 * the CLI and the socket accept exactly the same requests; a bad field is reported as the option
 * the operator typed (`given`: the option's text, by field).
 */
function validate(req: Record<string, unknown>, given: Record<string, string | undefined> = {}): Request {
  try {
    return parseRequest(req);
  } catch (e) {
    const m = isPalisadeError(e) && e.code === 'PAL_ERR_USAGE' ? /^bad request: (\w+): (.*)$/s.exec(e.message) : null;
    const field = m?.[1];
    if (!m || field === undefined || !(field in OPTION_OF)) throw e;
    const text = given[field];
    const what =
      field === 'seconds' ? `expected a duration from 1s to ${formatDuration(MAX_BAN_SECONDS)}` : field === 'limit' ? `expected an integer from 1 to ${MAX_LIMIT}` : m[2];
    // The reason is not echoed: it is long, and may hold control characters.
    const shown = text === undefined || field === 'reason' ? '' : ` ${JSON.stringify(text)}`;
    throw new PalisadeError('PAL_ERR_USAGE', `${OPTION_OF[field]}${shown}: ${what}`);
  }
}

/** A duration option's seconds (null when not given); PAL_ERR_USAGE when it is not a duration. */
function durationOption(name: string, text: string | undefined): number | null {
  if (text === undefined) return null;
  const s = parseDuration(text);
  if (s === null) throw new PalisadeError('PAL_ERR_USAGE', `${name} ${JSON.stringify(text)}: expected a duration such as 30m, 1h or 7d`);
  return s;
}

/** `--limit` as a request field (absent: the protocol's default). */
function limitOption(text: string | undefined): { limit?: number } {
  if (text === undefined) return {};
  return { limit: /^\s*\d+\s*$/.test(text) ? Number(text) : Number.NaN };
}

function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command();
  program
    .name('palisade')
    .description('Network firewall and intrusion detection: live capture or capture-file replay through one pipeline.')
    .version(pkg.version, '-V, --version')
    // Commander's own usage errors print as one "palisade: ... [PAL_ERR_USAGE]" line (see main).
    .configureOutput({ outputError: (text, write) => write(formatUsageError(text)) })
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

  /** Runs an operator request and prints its result: human text, or JSON with --json. */
  const operatorAction = async (configFile: string | undefined, req: Request, human: (r: unknown) => string, json: boolean): Promise<void> => {
    const out = await operate(loadConfig(configFile), req);
    for (const w of out.warnings) process.stderr.write(`palisade: warning: ${escapeControl(w)}\n`);
    process.stdout.write(json ? `${JSON.stringify(out.result ?? null, null, 2)}\n` : human(out.result));
  };
  const cfgOpt = (): Option => new Option('-c, --config <file>', 'YAML config file (default: the embedded defaults)');
  const jsonOpt = (): Option => new Option('--json', 'print JSON').default(false);

  program
    .command('status')
    .description('show the daemon (or, when none runs, the database): bans, counters, firewall health, protected addresses')
    .addOption(cfgOpt())
    .addOption(jsonOpt())
    .action((o: { config?: string; json: boolean }) => operatorAction(o.config, validate({ cmd: 'status' }), formatStatus, o.json));

  const bans = program.command('bans').description('the bans in force');
  bans
    .command('list')
    .description('list the bans in force with their remaining time')
    .addOption(cfgOpt())
    .addOption(jsonOpt())
    .action((o: { config?: string; json: boolean }) => operatorAction(o.config, validate({ cmd: 'list' }), formatBans, o.json));

  program
    .command('ban')
    .description('ban an address or CIDR now (refused, with the reason, for protected addresses)')
    .argument('<addr>', 'an IPv4 or IPv6 address, or a CIDR')
    .option('--for <duration>', 'how long, e.g. 30m, 1h, 7d, up to 3650d (default: the policy duration for this offence)')
    .option('--reason <text>', `why, for the record (at most ${MAX_REASON} characters)`)
    .addOption(cfgOpt())
    .addOption(jsonOpt())
    .action((addr: string, o: { for?: string; reason?: string; config?: string; json: boolean }) => {
      const req = validate({ cmd: 'ban', target: addr, seconds: durationOption('--for', o.for), reason: o.reason ?? null }, { target: addr, seconds: o.for });
      return operatorAction(o.config, req, formatBan, o.json);
    });

  program
    .command('unban')
    .description('lift the bans on an address or CIDR now')
    .argument('<addr>', 'an IPv4 or IPv6 address, or a CIDR')
    .addOption(cfgOpt())
    .addOption(jsonOpt())
    .action((addr: string, o: { config?: string; json: boolean }) =>
      operatorAction(o.config, validate({ cmd: 'unban', target: addr }, { target: addr }), (r) => formatUnban(r, addr), o.json),
    );

  program
    .command('history')
    .description('the bans and notices recorded for an address or CIDR, newest first')
    .argument('<addr>', 'an IPv4 or IPv6 address, or a CIDR')
    .addOption(cfgOpt())
    .addOption(jsonOpt())
    .action((addr: string, o: { config?: string; json: boolean }) =>
      operatorAction(o.config, validate({ cmd: 'history', target: addr }, { target: addr }), formatHistory, o.json),
    );

  program
    .command('alerts')
    .description('the alerts recorded (every source), newest first')
    .option('--since <duration>', 'only this far back, e.g. 1h, 7d (default: all on record)')
    .option('--kind <kind>', 'only this kind, e.g. syn_scan')
    .option('--limit <n>', 'at most this many (default: 100)')
    .addOption(cfgOpt())
    .addOption(jsonOpt())
    .action((o: { since?: string; kind?: string; limit?: string; config?: string; json: boolean }) => {
      const req = validate(
        { cmd: 'alerts', since: durationOption('--since', o.since), kind: o.kind ?? null, ...limitOption(o.limit) },
        { since: o.since, kind: o.kind, limit: o.limit },
      );
      return operatorAction(o.config, req, formatAlerts, o.json);
    });

  program
    .command('top')
    .description('the sources with the most notices and bans')
    .option('--since <duration>', 'only this far back, e.g. 24h, 7d (default: all on record)')
    .option('--limit <n>', 'at most this many sources (default: 20)')
    .addOption(cfgOpt())
    .addOption(jsonOpt())
    .action((o: { since?: string; limit?: string; config?: string; json: boolean }) => {
      const req = validate({ cmd: 'top', since: durationOption('--since', o.since), ...limitOption(o.limit) }, { since: o.since, limit: o.limit });
      return operatorAction(o.config, req, formatTop, o.json);
    });

  program
    .command('replay')
    .description('run the pipeline over capture files (pcap or pcapng; "-" reads stdin) as fast as they can be read')
    .argument('[files...]', 'capture files, replayed in order as one stream')
    .option('-c, --config <file>', 'YAML config file (default: the embedded defaults)')
    .option('--json', 'print the summary as one JSON document', false)
    .addOption(new Option('--eve <file>', 'write EVE JSON events to this file ("-" for stdout)'))
    .option('--log <file...>', "sshd log files (syslog lines), replayed after the captures on their lines' own times")
    .option('-q, --quiet', 'no progress line', false)
    .action(async (files: string[], o: { config?: string; json: boolean; eve?: string; quiet: boolean; log?: string[] }) => {
      const cfg = loadConfig(o.config);
      if (o.json && o.eve === '-') throw new PalisadeError('PAL_ERR_USAGE', '--json and --eve - both want stdout; give --eve a file');
      if (files.length === 0 && (o.log ?? []).length === 0) throw new PalisadeError('PAL_ERR_USAGE', 'replay needs capture files, --log files, or both');
      const { exitCode } = await replayCommand(files, cfg, { json: o.json, eve: o.eve, quiet: o.quiet, logs: o.log ?? [] }, pkg.version);
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
 * Sets the exit code once stdout and stderr have drained (a large write to a pipe completes
 * asynchronously). The process then ends by itself: nothing is left holding the event loop, live
 * capture included (its thread is joined and its wake-up handle released at stop).
 */
function exitAfterFlush(code: number): void {
  let pending = 2;
  const done = (): void => {
    if (--pending > 0) return;
    // Output that never reached stdout (disk full, device error) is a failure, not a success.
    // A closed pipe (`palisade alerts | head`) is the reader's choice and stays quiet.
    if (stdoutError && stdoutError.code !== 'EPIPE' && code === 0) {
      code = reportError(new PalisadeError('PAL_ERR_OUTPUT_WRITE', `stdout: ${stdoutError.message}`));
    }
    process.exitCode = code;
  };
  process.stdout.write('', (e?: Error | null) => {
    if (e) stdoutError ??= e;
    done();
  });
  process.stderr.write('', done);
}

let stdoutError: NodeJS.ErrnoException | null = null;
process.stdout.on('error', (e: NodeJS.ErrnoException) => (stdoutError ??= e));

main(process.argv).then(exitAfterFlush, (e: unknown) => exitAfterFlush(reportError(e)));
