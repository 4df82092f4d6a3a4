#!/usr/bin/env node
// The `palisade` command line: run (live), replay (capture files), config check / print.
// Exit codes: 0 success, 1 internal error, 2 usage or config error, 3 capture-file error,
// 4 live-capture error, 5 output error.

import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { configToYaml, loadConfig } from '../config/load.js';
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
    .action(async (o: { interface?: string; config?: string; filter?: string; dryRun: boolean }) => {
      const cfg = loadConfig(o.config);
      if (o.interface) cfg.capture.interface = o.interface;
      if (o.filter !== undefined) cfg.capture.filter = o.filter;
      setExit(await runCommand(cfg, { dryRun: o.dryRun }));
    });

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
