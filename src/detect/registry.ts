// The detector registry: every available detector factory by name. The pipeline asks it for the
// detectors enabled in the config's `detect:` section; a new detector registers here.

import type { CidrSet } from '../core/addr.js';
import type { Clock } from '../core/clock.js';
import type { FlowTable } from '../flow/flow-table.js';
import type { Detector, DetectorEnv, DetectorFactory } from './detector.js';
import { type PrefilterConfig, ScanFeed } from './scan-feed.js';
import { badFlagsFactory } from './bad-flags.js';
import { bruteforceFactory } from './bruteforce.js';
import { floodFactory } from './flood.js';
import { osFingerprintFactory } from './os-fingerprint.js';
import { portScanFactory } from './port-scan.js';
import { slowScanFactory } from './slow-scan.js';
import { sweepFactory } from './sweep.js';
import { synRateFactory } from './syn-rate.js';

const FACTORIES = [portScanFactory, sweepFactory, slowScanFactory, osFingerprintFactory, badFlagsFactory, synRateFactory, floodFactory, bruteforceFactory] as unknown as readonly DetectorFactory<never>[];

/** The detectors a config enables (`defaultConfig().detect`: those on by default). */
export function enabledNames(configs: Record<string, { enabled: boolean }>): string[] {
  return enabled(configs).map((f) => f.name);
}

function enabled(configs: Record<string, { enabled: boolean }>): DetectorFactory<never>[] {
  return FACTORIES.filter((f) => configs[f.name]?.enabled === true);
}

/** The enabled detectors that read flow state. */
export function detectorsNeedingFlows(configs: Record<string, { enabled: boolean }>): string[] {
  return enabled(configs)
    .filter((f) => f.needsFlows)
    .map((f) => f.name);
}

/** The enabled detectors that read scan events (called only for packets that carry some). */
export function detectorsReadingScans(configs: Record<string, { enabled: boolean }>): string[] {
  return enabled(configs)
    .filter((f) => f.needsScans === true)
    .map((f) => f.name);
}

/** Creates the enabled detectors, in registry order. `configs` is the config's `detect:` section. */
export function createDetectors(configs: Record<string, { enabled: boolean }>, env: DetectorEnv): Detector[] {
  return enabled(configs).map((f) => f.create(configs[f.name] as never, env));
}

/**
 * The scan event feed the enabled detectors read, or null when none does. Its per-source records
 * live as long as the longest window of those detectors.
 */
export function createScanFeed(
  configs: Record<string, { enabled: boolean }>,
  prefilter: PrefilterConfig,
  clock: Clock,
  flows: FlowTable | null,
  homeNet: CidrSet | null,
): ScanFeed | null {
  const readers = detectorsReadingScans(configs);
  if (readers.length === 0 || flows === null) return null;
  const idle = Math.max(...readers.map((name) => (configs[name] as { window?: number }).window ?? 0));
  return new ScanFeed(prefilter, clock, flows, homeNet, idle);
}
