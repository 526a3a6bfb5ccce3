/**
 * The chat page's context carries where its request came from, as Cloudflare saw it: `clientBootstrap.cfConnectingIp`
 * and the geo fields (gateway-live-ui.md §2, §7). Fetched by this server, they are this server's (or its proxy's)
 * address and place: not something to show the people it serves, least of all shared (seed) users.
 *
 * The context is a turbo-stream: `streamController.enqueue("…")` calls whose string holds lines, each a flat JSON
 * array whose objects map `_<index of a key>` to `<index of a value>`. A value only these fields point at is replaced
 * where it stands; one that another field shares stays for that field, and these point at a stand-in of their own.
 */
export const NETWORK_FIELDS: Readonly<Record<string, 'visitor-ip' | 'unknown'>> = {
  cfConnectingIp: 'visitor-ip',
  cfIpCity: 'unknown',
  cfIpCountry: 'unknown',
  cfIpLatitude: 'unknown',
  cfIpLongitude: 'unknown',
  cfIpPostalCode: 'unknown',
  cfTimezone: 'unknown',
  userRegion: 'unknown',
};

const ENQUEUE = /(streamController\.enqueue\()("(?:[^"\\]|\\.)*")(\))/g;

/** `html` with the network fields of its context replaced: the visitor's own address, the geo fields empty. */
export function withVisitorNetworkFacts(html: string, visitorIp: string | undefined): string {
  const standIns: Record<string, string> = {};
  for (const [field, kind] of Object.entries(NETWORK_FIELDS)) standIns[field] = kind === 'visitor-ip' ? (visitorIp ?? '') : '';
  return withContextFields(html, standIns);
}

/**
 * `html` with the value of every field of its context named in `standIns` (at any depth) replaced by that field's
 * stand-in; the rest of the context as it was.
 */
export function withContextFields(html: string, standIns: Readonly<Record<string, string>>): string {
  if (!Object.keys(standIns).some((name) => html.includes(name))) return html;
  return html.replace(ENQUEUE, (whole, open: string, literal: string, close: string) => {
    let text: unknown;
    try {
      text = JSON.parse(literal);
    } catch {
      return whole;
    }
    if (typeof text !== 'string') return whole;
    const rewritten = text
      .split('\n')
      .map((line) => rewriteLine(line, standIns))
      .join('\n');
    // Escaped for a script element: `</script>` and `<!--` inside the string must not end or open anything.
    return `${open}${JSON.stringify(rewritten).replace(/</g, '\\u003c')}${close}`;
  });
}

function rewriteLine(line: string, standIns: Readonly<Record<string, string>>): string {
  if (!line.startsWith('[')) return line;
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return line;
  }
  if (!Array.isArray(parsed)) return line;
  const values = parsed as unknown[];
  const fieldKeys = new Map<string, string>();
  values.forEach((value, index) => {
    if (typeof value === 'string' && Object.hasOwn(standIns, value)) fieldKeys.set(`_${index}`, standIns[value]);
  });
  if (fieldKeys.size === 0) return line;
  // Every reference to a value: from the named fields, and from anything else (object fields, arrays of indices).
  const fieldRefs: Array<{ record: Record<string, unknown>; key: string; index: number; standIn: string }> = [];
  const otherRefs = new Set<number>();
  for (const value of values) {
    if (Array.isArray(value)) for (const item of value as unknown[]) if (typeof item === 'number') otherRefs.add(item);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) continue;
    const record = value as Record<string, unknown>;
    for (const [key, target] of Object.entries(record)) {
      if (typeof target !== 'number' || target < 0) continue;
      const standIn = fieldKeys.get(key);
      if (standIn !== undefined) fieldRefs.push({ record, key, index: target, standIn });
      else otherRefs.add(target);
    }
  }
  if (fieldRefs.length === 0) return line;
  const appended = new Map<string, number>();
  for (const { record, key, index, standIn } of fieldRefs) {
    if (!otherRefs.has(index)) {
      // Only named fields point here: the value itself goes.
      values[index] = standIn;
      continue;
    }
    // Shared with another field, whose value it stays: this field points at a stand-in of its own.
    let own = appended.get(standIn);
    if (own === undefined) {
      own = values.push(standIn) - 1;
      appended.set(standIn, own);
    }
    record[key] = own;
  }
  return JSON.stringify(values);
}
