// An engine in-process over a YAML config (outputs off), fed crafted frames with timestamps:
// collects its decisions, alerts and flood notices.

import { parseConfig } from '../../src/config/load.js';
import type { Decision, Notice } from '../../src/core/notice.js';
import { LinkType } from '../../src/core/packet.js';
import { Engine } from '../../src/pipeline/engine.js';
import { eth, ipv4, tcp } from '../../tools/craft.js';

export function harness(yaml = '') {
  const cfg = parseConfig(yaml, 'test.yaml');
  const alerts: Decision[] = [];
  const decisions: Decision[] = [];
  const floods: Notice[] = [];
  const engine = new Engine(cfg, {
    outputs: null,
    onDecision: (d) => {
      decisions.push(d);
      if (d.action !== 'ignore') alerts.push(d);
    },
    onFlood: (n) => floods.push(n),
  });
  const p = engine.packet;
  const send = (t: number, frame: Uint8Array): void => {
    p.data = frame;
    p.off = 0;
    p.caplen = frame.length;
    p.wirelen = frame.length;
    p.linktype = LinkType.ETHERNET;
    p.tsSec = Math.floor(t);
    p.tsNsec = Math.round((t - Math.floor(t)) * 1e9);
    engine.process();
  };
  const kinds = (ip: string): string[] => [...new Set(alerts.filter((d) => d.notice.src.toString() === ip).map((d) => d.notice.kind))];
  return { engine, send, alerts, decisions, floods, kinds };
}

/** An Ethernet/IPv4/TCP frame. */
export const seg = (src: string, dst: string, sport: number, dport: number, flags: number, extra: { ttl?: number; id?: number; win?: number; options?: Uint8Array } = {}) =>
  eth(0x0800, ipv4({ src, dst, proto: 6, ttl: extra.ttl ?? 64, id: extra.id }, tcp({ sport, dport, flags, win: extra.win, options: extra.options })));
