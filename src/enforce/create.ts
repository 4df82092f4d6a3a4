// Picks the firewall backend named in config (`enforce.backend`), or dry-run.

import { IpsetBackend } from './ipset.js';
import { DryRunBackend, IptablesBackend } from './iptables.js';
import { NftablesBackend } from './nftables.js';
import type { FirewallBackend } from './backend.js';

export interface BackendConfig {
  backend: 'nftables' | 'ipset' | 'iptables' | 'dry-run';
  name: string;
}

export function createBackend(cfg: BackendConfig, maxActive: number, log: (msg: string, fields: Record<string, unknown>) => void): FirewallBackend {
  switch (cfg.backend) {
    case 'nftables':
      return new NftablesBackend(cfg.name);
    case 'ipset':
      return new IpsetBackend(cfg.name, Math.max(65536, maxActive));
    case 'iptables':
      return new IptablesBackend(cfg.name);
    case 'dry-run':
      return new DryRunBackend(log);
  }
}
