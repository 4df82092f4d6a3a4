// The detector registry: every available detector factory by name. The pipeline asks it for the
// detectors enabled in the config's `detect:` section; a new detector registers here.

import type { Detector, DetectorEnv, DetectorFactory } from './detector.js';
import { synRateFactory } from './syn-rate.js';

const FACTORIES: readonly DetectorFactory<never>[] = [synRateFactory as DetectorFactory<never>];

function enabled(configs: Record<string, { enabled: boolean }>): DetectorFactory<never>[] {
  return FACTORIES.filter((f) => configs[f.name]?.enabled === true);
}

/** True when an enabled detector reads flow state. */
export function detectorsNeedFlows(configs: Record<string, { enabled: boolean }>): boolean {
  return enabled(configs).some((f) => f.needsFlows);
}

/** Creates the enabled detectors, in registry order. `configs` is the config's `detect:` section. */
export function createDetectors(configs: Record<string, { enabled: boolean }>, env: DetectorEnv): Detector[] {
  return enabled(configs).map((f) => f.create(configs[f.name] as never, env));
}
