// Config tests through the CLI: each broken file gives a message naming the file, line, column,
// key and what was expected, and exit code 2; `config print` shows the effective defaults.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { configToYaml, loadConfig, parseConfig } from '../src/config/load.js';
import { parseDuration, parseSize } from '../src/config/units.js';
import { PalisadeError } from '../src/core/errors.js';
import { isNoticeKind } from '../src/core/kinds.js';
import { SCAN_KIND } from '../src/detect/probe.js';
import { CLI, palisade, sh, tempDir } from './helpers/cli.js';

const cases: [string, string, RegExp[]][] = [
  ['an unknown key', 'detect:\n  syn_rate:\n    treshold: 5\n', [/bad\.yaml:3:5: unknown key "treshold" in detect\.syn_rate \(expected one of: enabled, threshold, window, max_sources\)/]],
  ['a wrong type', 'detect:\n  syn_rate:\n    threshold: lots\n', [/bad\.yaml:3:16: detect\.syn_rate\.threshold: expected an integer from 1 to 1000000, got "lots" \(a string\)/]],
  ['a bad CIDR', 'trusted:\n  - 10.0.0.0/8\n  - 10.0.0.0/33\n', [/bad\.yaml:3:5: trusted\[1\]: "10\.0\.0\.0\/33" is not a valid CIDR \(expected an IPv4 or IPv6 address/]],
  ['a bad IPv6 CIDR', 'trusted: ["2001:db8::/129"]\n', [/bad\.yaml:1:11: trusted\[0\]: "2001:db8::\/129" is not a valid CIDR/]],
  ['a bad duration', 'block:\n  duration: ten minutes\n', [/bad\.yaml:2:13: block\.duration: expected a duration such as 30s, 10m, 1h or 7d/]],
  ['a value out of range', 'capture:\n  snaplen: 10\n', [/bad\.yaml:2:12: capture\.snaplen: expected an integer from 64 to 262144, got 10 \(a number\)/]],
  ['a bad enum', 'outputs:\n  stdout:\n    format: xml\n', [/bad\.yaml:3:13: outputs\.stdout\.format: expected one of: auto, json, human, got "xml"/]],
  ['several problems at once', 'foo: 1\ncapture:\n  promiscuous: maybe\n', [/2 problems/, /bad\.yaml:1:1: unknown key "foo" in the top level/, /bad\.yaml:3:16: capture\.promiscuous: expected true or false, got "maybe"/]],
  ['YAML syntax', 'detect: [1,\n', [/bad\.yaml:\d+:\d+: YAML syntax error/, /PAL_ERR_CONFIG_SYNTAX/]],
  ['a bad escalation step', 'block:\n  escalation: [1h, soon]\n', [/bad\.yaml:2:20: block\.escalation\[1\]: expected a duration/]],
  ['an unknown decide action', 'decide:\n  kinds:\n    syn_scan: { action: block }\n', [/bad\.yaml:3:25: decide\.kinds\.syn_scan\.action: expected one of: ban, alert, ignore/]],
  ['an unknown backend', 'enforce:\n  backend: pf\n', [/bad\.yaml:2:12: enforce\.backend: expected one of: nftables, ipset, iptables, dry-run/]],
  ['a duplicate key', 'block:\n  duration: 1m\nblock:\n  duration: 2m\n', [/bad\.yaml:3:1: duplicate key "block" \(first set at line 1\)/]],
  ['a list at the top', '- a\n- b\n', [/bad\.yaml:1:1: the config must be a mapping of keys/]],
];

describe('config errors', () => {
  for (const [name, text, patterns] of cases) {
    it(`reports ${name} and exits 2`, (t) => {
      const f = join(tempDir(t), 'bad.yaml');
      writeFileSync(f, text);
      for (const cmd of [['config', 'check', f], ['replay', '-c', f, '/dev/null'], ['run', '-c', f, '-i', 'lo']]) {
        const r = palisade(cmd);
        assert.equal(r.code, 2, `${cmd.join(' ')}: ${r.stderr}`);
        for (const re of patterns) assert.match(r.stderr, re, cmd.join(' '));
      }
    });
  }

  it('reports a missing config file and exits 2', () => {
    const r = palisade(['config', 'check', '/nonexistent/palisade.yaml']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /\/nonexistent\/palisade\.yaml: cannot read config: no such file \[PAL_ERR_CONFIG_READ\]/);
  });

  it('exits 2 on bad command-line usage', () => {
    assert.equal(palisade(['replay']).code, 2);
    assert.equal(palisade(['frobnicate']).code, 2);
    assert.equal(palisade(['replay', '--nope', 'x']).code, 2);
  });
});

describe('config check and print', () => {
  it('accepts a valid file', (t) => {
    const f = join(tempDir(t), 'good.yaml');
    writeFileSync(f, 'trusted: [10.0.0.0/8, "2001:db8::/32"]\nblock:\n  duration: 1h\ndetect:\n  syn_rate:\n    threshold: 20\n    window: 90s\n');
    const r = palisade(['config', 'check', f]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /good\.yaml: ok/);
    const printed = parse(palisade(['config', 'print', '-c', f]).stdout);
    assert.equal(printed.block.duration, '1h');
    assert.equal(printed.detect.syn_rate.threshold, 20);
    assert.equal(printed.detect.syn_rate.window, '90s');
    assert.deepEqual(printed.trusted, ['127.0.0.0/8', '::1/128', '10.0.0.0/8', '2001:db8::/32']);
  });

  it('prints the embedded defaults: the seed block duration, loopback trusted', (t) => {
    const r = palisade(['config', 'print']);
    assert.equal(r.code, 0);
    const c = parse(r.stdout);
    assert.equal(c.block.duration, '10m');
    assert.deepEqual(c.block.escalation, ['1h', '1d', '7d']);
    assert.equal(c.enforce.backend, 'nftables');
    assert.equal(c.state.path, '/var/lib/palisade/palisade.db');
    assert.equal(c.honeypot.enabled, false);
    assert.deepEqual(c.trusted, ['127.0.0.0/8', '::1/128']);
    assert.equal(c.detect.syn_rate.threshold, 3);
    assert.equal(c.outputs.eve.filename, '/var/log/palisade/eve.json');
    // What it prints is itself a valid config.
    const f = join(tempDir(t), 'printed.yaml');
    writeFileSync(f, r.stdout);
    assert.equal(palisade(['config', 'check', f]).code, 0);
  });

  it('--help and --version exit 0', () => {
    const v = palisade(['--version']);
    assert.equal(v.code, 0);
    assert.match(v.stdout, /^\d+\.\d+\.\d+/);
    const h = palisade(['replay', '--help']);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /--json/);
  });
});

describe('units', () => {
  it('parses durations and sizes', () => {
    assert.equal(parseDuration('10m'), 600);
    assert.equal(parseDuration('250ms'), 0.25);
    assert.equal(parseDuration('1.5h'), 5400);
    assert.equal(parseDuration(42), 42);
    assert.equal(parseDuration('7 days'), null);
    assert.equal(parseDuration(-1), null);
    assert.equal(parseSize('32MiB'), 33554432);
    assert.equal(parseSize('64MB'), 64000000);
    assert.equal(parseSize('1x'), null);
  });
});

// Hostile and mistaken config input: every problem is a located PAL_ERR_CONFIG_* error (exit 2),
// never a stack trace, a hang or a silently ignored setting.
describe('defect 12: config input is validated and never crashes the loader', () => {
  const write = (t: { after: (fn: () => void) => void }, text: string | Buffer, name = 'bad.yaml'): string => {
    const f = join(tempDir(t), name);
    writeFileSync(f, text);
    return f;
  };
  const check = (f: string) => {
    const r = palisade(['config', 'check', f], { timeout: 60_000 });
    assert.doesNotMatch(r.stderr, /    at /, 'no stack trace');
    return r;
  };
  /** The PalisadeError that parsing `text` throws. */
  const fails = (text: string): PalisadeError => {
    try {
      parseConfig(text, 'c.yaml');
    } catch (e) {
      assert.ok(e instanceof PalisadeError, String(e));
      return e;
    }
    assert.fail(`accepted: ${text}`);
  };

  it('defect 12: an undefined alias is a located PAL_ERR_CONFIG_SYNTAX, exit 2', (t) => {
    const r = check(write(t, 'block:\n  duration: *nope\n'));
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /bad\.yaml:2:13: alias "\*nope" names no anchor .*\[PAL_ERR_CONFIG_SYNTAX\]/);
  });

  it('defect 12: an alias bomb (billion laughs) is refused at once, exit 2', (t) => {
    let text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n';
    for (let i = 1; i < 10; i++) text += `${'abcdefghij'[i]}: &${'abcdefghij'[i]} [${Array(9).fill(`*${'abcdefghij'[i - 1]}`).join(',')}]\n`;
    const r = check(write(t, text));
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /bad\.yaml:2:\d+: YAML aliases expand more than 100 times .*\[PAL_ERR_CONFIG_SYNTAX\]/);
    // YAML 1.1 merge keys are not resolved, so they cannot multiply either.
    assert.equal(fails('%YAML 1.1\n---\na: &a {x: 1}\nb: {<<: [*a, *a]}\n').code, 'PAL_ERR_CONFIG_INVALID');
  });

  it('defect 12: a typo in decide.kinds is located at the key and lists the known kinds', (t) => {
    const r = check(write(t, 'decide:\n  kinds:\n    sweep: { action: alert }\n    syn_scn: { action: alert }\n'));
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /bad\.yaml:4:5: decide\.kinds\.syn_scn: unknown notice kind "syn_scn" \(expected one of: syn_scan, connect_scan, .*operator\) \[PAL_ERR_CONFIG_INVALID\]/);
    assert.deepEqual(parseConfig('decide:\n  kinds:\n    operator: { duration: 1h }\n', 'c.yaml').decide.kinds, { operator: { duration: 3600 } });
  });

  it('defect 12: every kind a detector can emit is a known notice kind', () => {
    const dir = fileURLToPath(new URL('../src/detect/', import.meta.url));
    const emitted = new Set<string>(SCAN_KIND.filter((k) => k !== ''));
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.js'))) {
      for (const m of readFileSync(join(dir, f), 'utf8').matchAll(/\bkind(?:\s*:|\s*=)\s*'([a-z_]+)'/g)) emitted.add(m[1]!);
    }
    assert.ok(emitted.size >= 16, [...emitted].join(' '));
    for (const k of emitted) assert.ok(isNoticeKind(k), `detectors emit "${k}", which NOTICE_KINDS lacks`);
    assert.ok(isNoticeKind('operator'));
  });

  it('defect 12: zero, endless and out-of-range durations are located errors; each key has its minimum', () => {
    const at = (path: string, v: string): string => {
      const keys = path.split('.');
      return keys.reduceRight((inner, k, i) => `${'  '.repeat(i)}${k}:${i === keys.length - 1 ? ` ${inner}` : `\n${inner}`}`, v) + '\n';
    };
    const positive = [
      'block.duration', 'block.forget_after', 'enforce.retry_initial', 'enforce.retry_max', 'state.retention',
      'flow.timeout', 'flow.closed_timeout', 'stats.interval', 'detect.port_scan.window', 'detect.port_scan.response_timeout',
      'detect.port_scan.decoy.skew', 'detect.sweep.window', 'detect.sweep.response_timeout', 'detect.slow_scan.window',
      'detect.os_fingerprint.window', 'detect.bad_flags.window', 'detect.syn_rate.window',
    ];
    for (const key of positive) {
      for (const v of ['0', '0s', '36501d', '1e400', '99999999999999999999999d']) {
        const e = fails(at(key, v));
        assert.equal(e.code, 'PAL_ERR_CONFIG_INVALID', `${key}: ${v}`);
        assert.match(e.message, new RegExp(`^c\\.yaml:\\d+:\\d+: ${key.replace(/\./g, '\\.')}: expected a duration`), `${key}: ${v}`);
        if (v.startsWith('0')) assert.match(e.message, /expected a duration of at least (1s|10ms|1ms), got/, key);
      }
    }
    for (const [text, re] of [
      ['block:\n  escalation: [1h, 0]\n', /c\.yaml:2:20: block\.escalation\[1\]: expected a duration of at least 1s, got 0/],
      ['block:\n  duration: 3651d\n', /block\.duration: expected a duration of at most 3650d, got "3651d"/],
      ['decide:\n  kinds:\n    sweep: { duration: 0 }\n', /decide\.kinds\.sweep\.duration: expected a duration of at least 1s/],
      ['enforce:\n  retry_initial: 2m\n  retry_max: 1m\n', /c\.yaml:2:18: enforce\.retry_initial: retry_initial \(2m\) is longer than retry_max \(1m\)/],
      ['detect:\n  slow_scan:\n    window: 1h\n    min_duration: 2h\n', /detect\.slow_scan\.min_duration: min_duration \(2h\) is longer than window \(1h\)/],
    ] as const) {
      assert.match(fails(text).message, re);
    }
    // The longest ban, and min_duration 0 (any span), are accepted.
    assert.equal(parseConfig('block:\n  duration: 3650d\n  escalation: [3650d]\n', 'c.yaml').block.duration, 10 * 365 * 86400);
    assert.equal(parseConfig('detect:\n  slow_scan:\n    min_duration: 0\n', 'c.yaml').detect.slow_scan.min_duration, 0);
  });

  it('defect 12: sizes past 1 GiB are refused (they failed to allocate with a stack trace)', () => {
    assert.match(fails('detect:\n  slow_scan:\n    memory: 900GiB\n').message, /c\.yaml:3:13: detect\.slow_scan\.memory: expected a size of at most 1GiB, got "900GiB"/);
    assert.match(fails('capture:\n  buffer_size: 1e30\n').message, /capture\.buffer_size: expected a size of at most 1GiB/);
    assert.equal(parseConfig('capture:\n  buffer_size: 1GiB\n', 'c.yaml').capture.buffer_size, 1 << 30);
  });

  it('defect 12: a trusted entry covering all of IPv4 or IPv6 is refused unless trusted_force is set', (t) => {
    const r = check(write(t, 'trusted:\n  - 10.0.0.0/8\n  - 0.0.0.0/0\n'));
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /bad\.yaml:3:5: trusted\[1\]: "0\.0\.0\.0\/0" covers every IPv4 address.*set "trusted_force: true"/);
    for (const all of ['::/0', '::ffff:0:0/96', '::/64', '198.18.0.1/0']) {
      assert.match(fails(`trusted: ["${all}"]\n`).message, /covers every .*trusted_force: true/, all);
      assert.ok(parseConfig(`trusted: ["${all}"]\ntrusted_force: true\n`, 'c.yaml').trusted.includes(all));
    }
    assert.ok(parseConfig('trusted: [0.0.0.0/1, "::ffff:0:0/97", "2001:db8::/32"]\n', 'c.yaml').trusted.length === 5);
  });

  it('defect 12: config files are read up to 1 MiB, from files, devices and FIFOs; directories are refused', (t) => {
    const dir = tempDir(t);
    for (const [f, re] of [
      ['/dev/zero', /\/dev\/zero: cannot read config: larger than 1 MiB .*\[PAL_ERR_CONFIG_READ\]/],
      [dir, /cannot read config: it is a directory \[PAL_ERR_CONFIG_READ\]/],
    ] as const) {
      const r = check(f);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, re);
    }
    const big = join(dir, 'big.yaml');
    writeFileSync(big, 'stats:\n  interval: 30s\n'.padEnd(2 << 20, '#'));
    assert.throws(() => loadConfig(big), (e: PalisadeError) => e.code === 'PAL_ERR_CONFIG_READ' && /larger than 1 MiB/.test(e.message));
    writeFileSync(big, 'stats:\n  interval: 30s\n'.padEnd(1 << 20, '#'));
    assert.equal(loadConfig(big).stats.interval, 30);
    // A FIFO fed without end: read up to the cap, closed, refused.
    const r = sh(`cd ${dir} && mkfifo f && (yes 'a: 1' > f 2>/dev/null &) && ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} config check f`);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /f: cannot read config: larger than 1 MiB/);
  });

  it('defect 12: binary garbage gets one short line; problems are capped at 20', (t) => {
    for (const [bytes, re] of [
      [Buffer.from('block:\n  duration: 1m\0\n'), /bad\.yaml: not a text file \(byte 21 is NUL\) \[PAL_ERR_CONFIG_SYNTAX\]/],
      [Buffer.concat([Buffer.from('a: '), Buffer.from([0xc3, 0x28]), Buffer.alloc(4000, 0xfe)]), /bad\.yaml: not a text file \(byte 3 is 0xc3, not UTF-8\) \[PAL_ERR_CONFIG_SYNTAX\]/],
    ] as const) {
      const r = check(write(t, bytes));
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    const many = fails(Array.from({ length: 100 }, (_, i) => `k${i}: 1`).join('\n'));
    assert.equal(many.details.length, 21);
    assert.equal(many.details[20], '... and 80 more problems');
    const syntax = fails('a: [\n'.repeat(50));
    assert.ok(syntax.details.length <= 21, String(syntax.details.length));
  });

  it('defect 12: tags, deep nesting and __proto__ keys are located errors', () => {
    assert.match(fails('block: !!binary aGVsbG8=\n').message, /^c\.yaml:1:8: YAML: Unresolved tag: !!binary \(not supported in a config\)/);
    assert.match(fails('state:\n  retention: !!js/function "f"\n').message, /^c\.yaml:2:14: YAML: Unresolved tag: !!js\/function/);
    assert.match(fails(`a: ${'['.repeat(10000)}${']'.repeat(10000)}\n`).message, /^c\.yaml:1:\d+: collections nested more than 100 levels deep/);
    assert.match(fails(`a: ${'- '.repeat(100000)}x\n`).message, /nested more than 100 levels deep/);
    assert.match(fails('__proto__: { block: { duration: 1m } }\n').message, /unknown key "__proto__" in the top level/);
  });

  it('defect 12: 2,000 mutated config files each parse or throw a PAL_ERR_CONFIG_* error', (t) => {
    const base = Buffer.from(
      [
        'profile: aggressive',
        'trusted: [10.0.0.0/8, "2001:db8::/32"]',
        'block:',
        '  duration: 10m',
        '  escalation: [1h, 1d, 7d]',
        'decide:',
        '  kinds:',
        '    syn_scan: { action: ban, duration: 1h }',
        '    sweep: { action: alert }',
        'enforce: { backend: dry-run, retry_initial: 1s, retry_max: 1m }',
        'flow: { timeout: 120s, closed_timeout: 2s }',
        'detect:',
        '  port_scan:',
        '    ports: 15',
        '    window: 5m',
        '    decoy: { skew: 2s }',
        '  slow_scan: { window: 1h, min_duration: 5m, memory: 16MiB }',
        'outputs:',
        '  eve: { filename: /tmp/eve.json, types: [alert, ban] }',
        'stats: { interval: 30s }',
        '',
      ].join('\n'),
    );
    const snippets = [
      '&a ', '*a', '*nope', '!!binary ', '!!js/function ', '!!timestamp ', '!!set ', '<<: *a', '? ', ': ', '- ', '\n  ', '\n', '"', "'", '#', '|\n', '>-\n',
      '\t', '---\n', '...\n', '%YAML 1.1\n---\n', '{', '}', '[', ']', ',', '\0', '\xff', '1e400', '-1', '0', '.nan', '.inf', '99999999999999999999999999d',
      '0x7fffffffffffffffff', '__proto__: ', 'constructor: ', 'a: &a [*a, *a]\n', `${'['.repeat(10000)}${']'.repeat(10000)}`, `${'{a: '.repeat(5000)}1`, '- '.repeat(5000),
      `x: &x0 [1,1,1,1,1,1,1,1,1]\n${Array.from({ length: 8 }, (_, i) => `x${i + 1}: &x${i + 1} [${Array(9).fill(`*x${i}`).join(',')}]`).join('\n')}\n`, '0.0.0.0/0', 'syn_scn',
    ].map((s) => Buffer.from(s, s === '\xff' ? 'latin1' : 'utf8'));
    let seed = 12;
    const rand = (n: number): number => {
      // mulberry32
      seed = (seed + 0x6d2b79f5) | 0;
      let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
      return (((x ^ (x >>> 14)) >>> 0) % n) | 0;
    };
    const f = join(tempDir(t), 'fuzz.yaml');
    const outcomes = { parsed: 0, refused: 0 };
    let slowest = 0;
    for (let i = 0; i < 2000; i++) {
      let b: Buffer = Buffer.from(base);
      for (let m = 1 + rand(2); m > 0; m--) {
        const at = rand(b.length + 1);
        const op = rand(4);
        if (op === 0 && b.length > 0) b[Math.min(at, b.length - 1)] = rand(256);
        else if (op === 1) b = b.subarray(0, at);
        else b = Buffer.concat([b.subarray(0, at), snippets[rand(snippets.length)]!, b.subarray(op === 3 ? Math.min(b.length, at + rand(8)) : at)]);
      }
      writeFileSync(f, b);
      const t0 = performance.now();
      try {
        configToYaml(loadConfig(f));
        outcomes.parsed++;
      } catch (e) {
        if (!(e instanceof PalisadeError) || !e.code.startsWith('PAL_ERR_CONFIG_')) {
          assert.fail(`input ${i} threw ${(e as Error)?.stack ?? String(e)}\n--- input:\n${b.toString('latin1').slice(0, 2000)}`);
        }
        outcomes.refused++;
      }
      slowest = Math.max(slowest, performance.now() - t0);
    }
    t.diagnostic(`parsed ${outcomes.parsed}, refused ${outcomes.refused}, slowest ${slowest.toFixed(0)} ms`);
    assert.ok(outcomes.parsed > 0 && outcomes.refused > 0);
  });
});
