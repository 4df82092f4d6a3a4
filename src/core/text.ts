// Text that came from outside (operator reasons, socket requests, feeds) made safe to store and
// to print: capped in length, and with control characters escaped so a terminal table or a log
// line cannot be broken or re-coloured by it.

/** The longest free-text reason Palisade keeps (characters). */
export const MAX_REASON = 256;

/** Cuts `s` to `max` characters, marking the cut with an ellipsis. */
export function capText(s: string, max = MAX_REASON): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/**
 * Escapes C0 and C1 control characters, DEL, and the Unicode line and bidi controls as \xNN /
 * \uNNNN, so text prints on one line as it was written. Printable text is unchanged.
 */
export function escapeControl(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const n = c.charCodeAt(0);
    return n < 0x100 ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
  });
}
