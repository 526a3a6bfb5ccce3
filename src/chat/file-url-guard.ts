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
  ['64:ff9b::', 96],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
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

/** Refuses URLs whose host is, or resolves to, a loopback, private, link-local or otherwise internal address. */
export async function assertPublicUrl(url: URL, options: { resolve?: boolean } = {}): Promise<void> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!isIP(host) && options.resolve === false) {
    if (/^(localhost|.*\.localhost|.*\.internal|.*\.local)$/i.test(host)) throw new Error(`${url.hostname} is not a public address`);
    return;
  }
  const addresses = isIP(host) ? [host] : (await lookup(host, { all: true })).map((entry) => entry.address);
  if (addresses.length === 0 || addresses.some(isPrivateAddress)) throw new Error(`${url.hostname} is not a public address`);
}
