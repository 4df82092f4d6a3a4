// CLI output tests: every read command prints a human table by default and JSON with --json,
// usage errors print one "palisade: ... [PAL_ERR_USAGE]" line (exit 2), text from outside is
// escaped in tables, the log is human on a terminal, and the LICENSE matches package.json. No
// daemon runs: the operator commands work offline on a database in a temp dir, with the dry-run
// firewall backend, so no firewall is touched.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { formatAlerts, formatBans, formatHistory, formatStatus, formatTop, MAX_LAST_CELL } from '../src/cli/format.js';
import { formatLogLine, humanLog } from '../src/cli/log.js';
import { CLI, palisade, sh, tempDir, type CliResult } from './helpers/cli.js';

const root = (p: string): string => new URL(`../../${p}`, import.meta.url).pathname;

/** A config in a temp dir (state, socket), with the dry-run backend and no EVE file. */
function setup(t: { after: (fn: () => void) => void }): { dir: string; cfg: string; cli: (args: string[]) => CliResult } {
  const dir = tempDir(t, 'palisade-cli-');
  const cfg = join(dir, 'palisade.yaml');
  writeFileSync(
    cfg,
    `state:\n  path: ${join(dir, 'state.db')}\ncontrol:\n  socket: ${join(dir, 'palisade.sock')}\nenforce:\n  backend: dry-run\noutputs:\n  eve:\n    enabled: false\n`,
  );
  return { dir, cfg, cli: (args) => palisade([...args, '-c', cfg]) };
}

const isJson = (s: string): boolean => {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
};

describe('defect 18: output formats and first contact', () => {
  it('defect 18: status, bans list, history, alerts and top print a table by default and JSON with --json', (t) => {
    const { cli } = setup(t);
    let r = cli(['ban', '198.18.0.7', '--for', '1h', '--reason', 'manual test']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^198\.18\.0\.7 banned for 1h0m \(offence 1, until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\): manual test\n$/);

    const human: [string[], RegExp[]][] = [
      [['status'], [/^daemon\s+not running/m, /^bans\s+1 in force/m, /^state\s+\S+state\.db/m, /^protected\s+\d+ address/m, /^ {2}127\.0\.0\.0\/8\s+loopback/m]],
      [['bans', 'list'], [/^SCOPE\s+REMAINING\s+UNTIL\s+OFFENCE\s+ORIGIN\s+KIND\s+REASON$/m, /^198\.18\.0\.7\s+(59m\d+s|1h0m)\s+\S+\s+1\s+operator\s+operator\s+manual test$/m]],
      [['history', '198.18.0.7'], [/^198\.18\.0\.7: 1 ban, 0 notices$/m, /^BANS$/m, /^SINCE\s+UNTIL\s+SCOPE/m]],
      [['alerts'], [/^(no alerts recorded|TIME\s+SRC\s+DST\s+KIND)/m]],
      [['top'], [/^(no sources recorded|SRC\s+NOTICES\s+BANS\s+LAST)/m]],
    ];
    for (const [args, patterns] of human) {
      r = cli(args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.ok(!isJson(r.stdout), `${args.join(' ')} prints a table, not JSON: ${r.stdout}`);
      for (const re of patterns) assert.match(r.stdout, re, args.join(' '));
    }

    const json = (args: string[]): any => {
      const j = cli([...args, '--json']);
      assert.equal(j.code, 0, `${args.join(' ')} --json: ${j.stderr}`);
      assert.ok(isJson(j.stdout), `${args.join(' ')} --json prints JSON: ${j.stdout}`);
      return JSON.parse(j.stdout);
    };
    assert.equal(json(['status']).daemon, false);
    assert.deepEqual(json(['bans', 'list']).map((b: { scope: string }) => b.scope), ['198.18.0.7']);
    assert.equal(json(['history', '198.18.0.7']).bans[0].reason, 'manual test');
    // The offline alerts / top queries are another change's; until then the result may be null.
    for (const cmd of ['alerts', 'top']) {
      const v = json([cmd, '--since', '1h', '--limit', '5']);
      assert.ok(v === null || Array.isArray(v), `${cmd} --json: ${JSON.stringify(v)}`);
    }
  });

  it('defect 18: the tables read any result tolerantly: missing fields as "-", unknown status sections as key=value', () => {
    const full = formatStatus({
      daemon: true,
      pid: 4242,
      interface: 'eth0',
      uptime: 3725,
      packets: 100,
      notices: 3,
      decide: { active: 2, alerts: 3 },
      capture: { packets: 100, kernel_packets: 103, kernel_drops: 2, ring_drops: 1 },
      enforce: { backend: 'nftables', healthy: false, failures: 2, pending: 1, last_error: 'nft: value too large' },
      state: { path: '/var/lib/palisade/palisade.db', healthy: true, notices: 1 },
      outputs: { eve: { healthy: false, errors: 3, last_error: 'ENOSPC' } },
      protected: [{ cidr: '127.0.0.0/8', why: 'loopback' }],
      lock: { table: 'palisade' },
      future: 7,
    });
    for (const re of [
      /^daemon\s+running \(pid 4242, interface eth0, up 1h2m\)$/m,
      /^capture\s+100 packets, 2 dropped by the kernel, 1 by Palisade's ring {2}kernel_packets=103$/m,
      /^notices\s+3$/m,
      /^bans\s+2 in force {2}alerts=3$/m,
      /^firewall\s+nftables UNHEALTHY {2}failures=2 {2}pending=1 {2}last_error=nft: value too large$/m,
      /^state\s+\/var\/lib\/palisade\/palisade\.db healthy {2}notices=1$/m,
      /^output\s+eve UNHEALTHY {2}errors=3 {2}last_error=ENOSPC$/m,
      /^protected\s+1 address$/m,
      /^lock\s+table=palisade$/m,
      /^future\s+7$/m,
    ])
      assert.match(full, re);
    for (const odd of [null, undefined, 'text', [], {}, { daemon: true }, { enforce: 'x', state: null, protected: 3 }]) assert.equal(typeof formatStatus(odd), 'string');
    assert.equal(formatBans(null), 'no bans in force\n');
    assert.match(formatBans([{ scope: '198.18.0.1' }]), /^198\.18\.0\.1(\s+-){6}$/m);
    assert.match(formatHistory(undefined), /^-: 0 bans, 0 notices$/m);
    assert.match(formatAlerts([{ time: '2026-12-02T07:26:11.123Z', src: '198.18.0.1', kind: 'syn_scan' }, 5]), /^2026-12-02T07:26:11Z\s+198\.18\.0\.1\s+-\s+syn_scan(\s+-){4}$/m);
    assert.match(formatTop([{ src: '198.18.0.2', notices: 4, bans: 1, last: '2026-12-02T07:00:00.000Z' }]), /^198\.18\.0\.2\s+4\s+1\s+2026-12-02T07:00:00Z$/m);
  });

  it('defect 18: usage errors print one "palisade: ... [PAL_ERR_USAGE]" line and exit 2, with no stack trace', (t) => {
    const { cli } = setup(t);
    const cases: [string[], RegExp][] = [
      [['status', '--nope'], /^palisade: unknown option '--nope' \[PAL_ERR_USAGE\]$/],
      [['ban'], /^palisade: missing required argument 'addr' \[PAL_ERR_USAGE\]$/],
      [['nope'], /^palisade: unknown command 'nope' \[PAL_ERR_USAGE\]$/],
      [['top', 'extra'], /^palisade: too many arguments for 'top'\. .* \[PAL_ERR_USAGE\]$/],
      [['ban', '198.18.0.8', '--for', '11y'], /^palisade: --for "11y": expected a duration such as 30m, 1h or 7d \[PAL_ERR_USAGE\]$/],
      [['ban', '198.18.0.8', '--for', '0'], /^palisade: --for "0": expected a duration from 1s to 3650d \[PAL_ERR_USAGE\]$/],
      [['ban', '198.18.0.8', '--for', '4000d'], /^palisade: --for "4000d": expected a duration from 1s to 3650d \[PAL_ERR_USAGE\]$/],
      [['ban', '198.18.0.8', '--reason', 'r'.repeat(257)], /^palisade: --reason: expected a reason of at most 256 characters \[PAL_ERR_USAGE\]$/],
      [['ban', 'notanip'], /^palisade: address "notanip": expected an IP address or CIDR .* \[PAL_ERR_USAGE\]$/],
      [['alerts', '--since', 'soon'], /^palisade: --since "soon": expected a duration such as 30m, 1h or 7d \[PAL_ERR_USAGE\]$/],
      [['alerts', '--limit', '0'], /^palisade: --limit "0": expected an integer from 1 to 10000 \[PAL_ERR_USAGE\]$/],
      [['top', '--limit', 'many'], /^palisade: --limit "many": expected an integer from 1 to 10000 \[PAL_ERR_USAGE\]$/],
      [['history', '198.18.0.999'], /^palisade: address "198\.18\.0\.999": expected an IP address or CIDR .* \[PAL_ERR_USAGE\]$/],
    ];
    for (const [args, re] of cases) {
      const r = cli(args);
      const what = `${args.join(' ').slice(0, 60)}: ${r.stderr}`;
      assert.equal(r.code, 2, what);
      const lines = r.stderr.trimEnd().split('\n');
      assert.match(lines[0]!, re, what);
      // At most a hint ("(Did you mean top?)") follows; never commander's "error:", help or a stack.
      assert.ok(lines.length <= 2, what);
      assert.doesNotMatch(r.stderr, /^error:|Usage:|\n\s+at /m, what);
      assert.equal(r.stdout, '', what);
    }
    // Nothing was banned by the refused requests.
    assert.deepEqual(JSON.parse(cli(['bans', 'list', '--json']).stdout), []);
  });

  it('defect 18: the log is human on a terminal: HH:MM:SS.mmm LEVEL msg key=value', () => {
    const time = Date.UTC(2026, 11, 2, 7, 26, 11, 42);
    const d = new Date(time);
    const hms = [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
    const line = JSON.stringify({ level: 30, time, pid: 7, hostname: 'h', msg: 'capture started', interface: 'eth0', detectors: ['a', 'b'], filter: null, note: 'two words', n: 3 });
    assert.equal(formatLogLine(line), `${hms}.042 INFO  capture started interface=eth0 detectors=["a","b"] filter=null note="two words" n=3\n`);
    const warn = JSON.stringify({ level: 40, time, msg: 'bad\x1b[31m', err: { type: 'Error', message: 'boom\nline', stack: 'Error: boom\n    at x' }, who: 'a\u202eb' });
    assert.equal(formatLogLine(warn), `${hms}.042 WARN  bad\\x1b[31m err="boom\\nline" who=a\\u202eb\n`);
    assert.equal(formatLogLine(`${JSON.stringify({ level: 50, time, msg: 'x' })}\n`), `${hms}.042 ERROR x\n`);
    assert.equal(formatLogLine('not json\x07'), 'not json\\x07\n');
    assert.equal(humanLog({}, true), true);
    assert.equal(humanLog({}, false), false);
    assert.equal(humanLog({ PALISADE_LOG: 'json' }, true), false);
    assert.equal(humanLog({ PALISADE_LOG: 'human' }, false), true);
  });

  it('defect 18: palisade run under a pty logs human lines, and JSON with PALISADE_LOG=json', (t) => {
    if (sh('command -v script').code !== 0) return t.skip('util-linux script is not installed');
    const { cfg } = setup(t);
    const run = (env: string): string => sh(`${env} script -qc '${process.execPath} ${CLI} run -i palnope${process.pid % 1000} -c ${cfg}' /dev/null`).stdout;
    const human = run('');
    assert.match(human, /palisade: .* \[PAL_ERR_LIVE_OPEN\]/);
    assert.doesNotMatch(human, /\{"level":/);
    const json = run('PALISADE_LOG=json');
    assert.match(json, /palisade: .* \[PAL_ERR_LIVE_OPEN\]/);
    // Whatever was logged before the failure is human in one mode and JSON in the other.
    const humanLines = human.split(/\r?\n/).filter((l) => /^\d\d:\d\d:\d\d\.\d{3} [A-Z]+ /.test(l)).length;
    const jsonLines = json.split(/\r?\n/).filter((l) => l.startsWith('{"level":')).length;
    assert.equal(humanLines, jsonLines);
  });

  it('defect 18: an operator command whose stdout cannot be written exits 5', (t) => {
    const { cfg } = setup(t);
    const r = sh(`${process.execPath} ${CLI} status --json -c ${cfg} > /dev/full`);
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /^palisade: stdout: ENOSPC.* \[PAL_ERR_OUTPUT_WRITE\]$/m);
  });

  it('defect 18: the LICENSE file exists and matches package.json', () => {
    const pkg = JSON.parse(readFileSync(root('package.json'), 'utf8')) as { license: string };
    assert.equal(pkg.license, 'MIT');
    assert.ok(existsSync(root('LICENSE')));
    const text = readFileSync(root('LICENSE'), 'utf8');
    assert.match(text, /^MIT License\n\nCopyright \(c\) 2026 the Palisade authors\n/);
    assert.match(text, /Permission is hereby granted, free of charge/);
    assert.match(text, /THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND/);
  });
});

describe('defect 14: text from outside is escaped on output', () => {
  it('defect 14: a reason with ANSI, CR, LF and bidi controls prints escaped, each ban on one line; JSON stays raw', (t) => {
    const { cli } = setup(t);
    const reason = 'red\x1b[31mALERT\r\nfake row\u202edesrever\u2066x\u0085';
    let r = cli(['ban', '198.18.0.9', '--for', '1h', '--reason', reason]);
    assert.equal(r.code, 0, r.stderr);
    const escaped = 'red\\x1b[31mALERT\\x0d\\x0afake row\\u202edesrever\\u2066x\\x85';
    assert.ok(r.stdout.endsWith(`: ${escaped}\n`), r.stdout);
    r = cli(['ban', '198.18.0.10', '--for', '2h', '--reason', 'plain']);
    assert.equal(r.code, 0, r.stderr);

    r = cli(['bans', 'list']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 3, r.stdout); // the header and one line per ban
    assert.ok(lines[1]!.startsWith('198.18.0.9 ') && lines[1]!.endsWith(escaped), lines[1]);
    assert.ok(lines[2]!.startsWith('198.18.0.10 ') && lines[2]!.endsWith('plain'), lines[2]);
    // eslint-disable-next-line no-control-regex
    const raw = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
    assert.doesNotMatch(r.stdout, raw);
    const h = cli(['history', '198.18.0.9']);
    assert.equal(h.code, 0, h.stderr);
    assert.doesNotMatch(h.stdout, raw);
    assert.ok(h.stdout.includes(escaped));

    const list = JSON.parse(cli(['bans', 'list', '--json']).stdout) as { scope: string; reason: string }[];
    assert.equal(list.find((b) => b.scope === '198.18.0.9')!.reason, reason);
  });

  it('defect 14: long cells are capped in every table', () => {
    const long = `x${'\x1b'.repeat(300)}`;
    const out = formatBans([{ scope: '198.18.0.1', remaining: 60, until: '2026-12-02T07:00:00.000Z', offence: 1, origin: 'operator', kind: long, reason: long }]);
    const row = out.split('\n')[1]!;
    assert.ok(row.endsWith('…'), row);
    assert.ok(row.length < 64 + MAX_LAST_CELL + 80, `row of ${row.length} characters`);
    assert.ok(formatAlerts([{ src: long, signature: long, reason: long }]).split('\n')[1]!.length < 8 * 64 + MAX_LAST_CELL);
  });
});
