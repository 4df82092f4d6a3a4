// OpenSSH's log messages about logins: failed ones (a wrong password or keyboard-interactive
// answer, an unknown or refused user, too many attempts) and accepted ones, with the user and the
// remote address. The username is the client's own text and may hold " from 198.51.100.1 port 22"
// to frame somebody else: the address is read from the end, where sshd writes it
// ("from ADDR port N" then "ssh2" or "[preauth]"), never from the first " from ".
// Failed public keys are no failures (fail2ban's sshd filter: publickey = nofail).

import { IpAddr } from '../core/addr.js';
import { OUTCOME } from '../core/log-event.js';

export interface SshdVerdict {
  outcome: number;
  addr: IpAddr;
  user: string | null;
}

const PREFIXES = ['error: PAM: ', 'error: ', 'fatal: '];
const MAX_TRIES = 'maximum authentication attempts exceeded for ';

/**
 * The address in `tail` (what follows the last " from " or the user): "ADDR port N", then
 * optionally " ssh2", " [preauth]", ": ..." — or null when it is not that shape.
 */
function addrPort(tail: string): IpAddr | null {
  const sp = tail.indexOf(' ');
  if (sp <= 0 || !tail.startsWith(' port ', sp)) return null;
  let k = sp + 6;
  const from = k;
  while (k < tail.length && tail.charCodeAt(k) >= 48 && tail.charCodeAt(k) <= 57) k++;
  if (k === from) return null;
  const rest = tail.slice(k);
  if (rest !== '' && !rest.startsWith(' ssh') && !rest.startsWith(' [preauth]') && !rest.startsWith(':')) return null;
  return IpAddr.parse(tail.slice(0, sp));
}

/** "USER from ADDR port N ..." → [user, addr], reading the address from the last " from ". */
function userFrom(s: string): [string, IpAddr] | null {
  const at = s.lastIndexOf(' from ');
  if (at < 0) return null;
  const addr = addrPort(s.slice(at + 6));
  return addr === null ? null : [s.slice(0, at), addr];
}

const stripInvalid = (u: string): string => (u.startsWith('invalid user ') ? u.slice(13) : u);

/** What an sshd message says of a login, or null when it says nothing of one. */
export function parseSshd(message: string): SshdVerdict | null {
  let m = message;
  for (const p of PREFIXES) if (m.startsWith(p)) m = m.slice(p.length);
  let outcome = 0;
  let r: [string, IpAddr] | null = null;
  if (m.startsWith('Failed ')) {
    const sp = m.indexOf(' for ', 7);
    if (sp < 0 || m.slice(7, sp) === 'publickey') return null;
    r = userFrom(m.slice(sp + 5));
    if (r) r[0] = stripInvalid(r[0]);
    outcome = OUTCOME.FAIL;
  } else if (m.startsWith('Invalid user ')) {
    r = userFrom(m.slice(13));
    outcome = OUTCOME.FAIL;
  } else if (m.startsWith(MAX_TRIES)) {
    r = userFrom(m.slice(MAX_TRIES.length));
    if (r) r[0] = stripInvalid(r[0]);
    outcome = OUTCOME.FAIL;
  } else if (m.startsWith('Disconnecting ') && m.includes(': Too many authentication failures')) {
    // "Disconnecting (authenticating|invalid) user USER ADDR port N: Too many authentication failures"
    const colon = m.lastIndexOf(': Too many authentication failures');
    const head = m.slice(0, colon);
    const portAt = head.lastIndexOf(' port ');
    const addrAt = portAt < 0 ? -1 : head.lastIndexOf(' ', portAt - 1);
    if (addrAt < 0) return null;
    const addr = addrPort(m.slice(addrAt + 1));
    const who = head.slice(14, addrAt);
    const user = who.startsWith('authenticating user ') ? who.slice(20) : who.startsWith('invalid user ') ? who.slice(13) : null;
    return addr === null ? null : { outcome: OUTCOME.FAIL, addr, user };
  } else if (m.startsWith('User ') && m.includes(' not allowed because ')) {
    const at = m.lastIndexOf(' not allowed because ');
    const head = m.slice(5, at);
    const f = head.lastIndexOf(' from ');
    if (f < 0) return null;
    const addr = IpAddr.parse(head.slice(f + 6));
    return addr === null ? null : { outcome: OUTCOME.FAIL, addr, user: head.slice(0, f) };
  } else if (m.startsWith('Accepted ')) {
    const sp = m.indexOf(' for ', 9);
    if (sp < 0) return null;
    r = userFrom(m.slice(sp + 5));
    outcome = OUTCOME.SUCCESS;
  }
  if (r === null || outcome === 0) return null;
  return { outcome, addr: r[1], user: r[0] };
}
