// A short capture-file fuzzing run inside `npm test`: the seed corpus of tools/fuzz.ts (pcap,
// pcapng, gzip), mutated packets and file structure, replayed through the real CLI. Any crash,
// hang or nondeterministic replay fails the test and names the saved input.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fuzz, reportLine } from '../tools/fuzz.js';
import { tempDir } from './helpers/cli.js';

describe('capture fuzzing', () => {
  it('defect 17: a 25-second corpus-based fuzz run has 0 crashes, 0 hangs and 0 nondeterministic replays', async (t) => {
    const out = tempDir(t, 'palisade-fuzz-out-');
    const r = await fuzz({ seconds: 25, seed: 17, out, jobs: 1, batch: 16, seedPackets: 2000 });
    t.diagnostic(reportLine(r));
    assert.ok(r.files > 0 && r.packets > 0, reportLine(r));
    assert.deepEqual({ crashes: r.crashes, hangs: r.hangs, nondeterministic: r.nondeterministic }, { crashes: 0, hangs: 0, nondeterministic: 0 }, r.findings.join('\n'));
  });
});
