// Config tests through the CLI: each broken file gives a message naming the file, line, column,
// key and what was expected, and exit code 2; `config print` shows the effective defaults.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { parseDuration, parseSize } from '../src/config/units.js';
import { palisade, tempDir } from './helpers/cli.js';

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
