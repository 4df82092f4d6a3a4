// The detector registry: every available detector factory by name. The pipeline asks it for the
// detectors enabled in the config's `detect:` section; a new detector registers here.

import type { Detector, DetectorEnv, DetectorFactory } from './detector.js';
import { synRateFactory } from './syn-rate.js';

const FACTORIES: readonly DetectorFactory<never>[] = [synRateFactory as DetectorFactory<never>];

export function detectorNames(): string[] {
  return FACTORIES.map((f) => f.name);
}

export function describeDetectors(): { name: string; description: string }[] {
  return FACTORIES.map((f) => ({ name: f.name, description: f.description }));
}

/** Creates the enabled detectors, in registry order. `configs` is the config's `detect:` section. */
export function createDetectors(configs: Record<string, { enabled: boolean }>, env: DetectorEnv): Detector[] {
  const out: Detector[] = [];
  for (const f of FACTORIES) {
    const c = configs[f.name];
    if (c && c.enabled) out.push(f.create(c as never, env));
  }
  return out;
}
