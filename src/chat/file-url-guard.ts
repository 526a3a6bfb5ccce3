import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

const PRIVATE_RANGES = new BlockList();
for (const [address, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  PRIVATE_RANGES.addSubnet(address, prefix, 'ipv4');
}
for (const [address, prefix] of [
  ['::', 96],
  ['::ffff:0:0:0', 96],
  ['2002::', 16],
  ['64:ff9b::', 96],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  // Site-local, deprecated by RFC 3879 but still routed inside networks that kept it.
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  PRIVATE_RANGES.addSubnet(address, prefix, 'ipv6');
}

export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return PRIVATE_RANGES.check(mapped[1], 'ipv4');
  const family = isIP(address);
  return family === 4 ? PRIVATE_RANGES.check(address, 'ipv4') : family === 6 ? PRIVATE_RANGES.check(address, 'ipv6') : true;
}

/** Every address a host name resolves to. */
export type HostLookup = (hostname: string) => Promise<string[]>;

export const systemLookup: HostLookup = async (hostname) => (await lookup(hostname, { all: true })).map((entry) => entry.address);

/** Names that only mean something inside a network, refused whatever they resolve to here. */
const INTERNAL_NAME = /^(localhost|.*\.localhost|.*\.internal|.*\.local)$/i;

/**
 * Refuses URLs whose host is, or resolves to, a loopback, private, link-local or otherwise internal address.
 * A name is always resolved, even when a proxy or an external fetcher will fetch the URL: the text of a name
 * says nothing about where it leads (`internal.example.com` may well point at 10.0.0.5).
 */
export async function assertPublicUrl(url: URL, resolve: HostLookup = systemLookup): Promise<void> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  // `localhost.` is `localhost` to DNS: the fully qualified spelling must not slip past the name check.
  if (!isIP(host) && INTERNAL_NAME.test(host.replace(/\.+$/, ''))) throw new Error(`${url.hostname} is not a public address`);
  const addresses = isIP(host) ? [host] : await resolve(host);
  if (addresses.length === 0 || addresses.some(isPrivateAddress)) throw new Error(`${url.hostname} is not a public address`);
}
