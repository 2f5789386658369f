/**
 * IP addresses and CIDR blocks for IpAddress / NotIpAddress (aws:SourceIp): IPv4 and IPv6, an
 * address alone being a /32 or /128. Addresses are held as bigints so one comparison serves
 * both families; an IPv4-mapped IPv6 address (::ffff:a.b.c.d, how a dual-stack listener reports
 * IPv4 clients) is the IPv4 address.
 */

export interface Cidr {
  v6: boolean;
  /** The network address with the host bits cleared. */
  network: bigint;
  mask: bigint;
}

const V4_BITS = 32n;
const V6_BITS = 128n;

/** A CIDR block or plain address, or undefined when it is not one. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf("/");
  const address = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (address === undefined) return undefined;
  const bits = address.v6 ? V6_BITS : V4_BITS;
  let prefix = bits;
  if (slash >= 0) {
    const digits = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(digits) || BigInt(digits) > bits) return undefined;
    prefix = BigInt(digits);
  }
  const mask = ((1n << bits) - 1n) ^ ((1n << (bits - prefix)) - 1n);
  return { v6: address.v6, network: address.value & mask, mask };
}

export function cidrContains(cidr: Cidr, ip: { v6: boolean; value: bigint }): boolean {
  return cidr.v6 === ip.v6 && (ip.value & cidr.mask) === cidr.network;
}

/** An IPv4 or IPv6 address (IPv4-mapped IPv6 taken as IPv4), or undefined. */
export function parseIp(text: string): { v6: boolean; value: bigint } | undefined {
  if (!text.includes(":")) {
    const v4 = parseV4(text);
    return v4 === undefined ? undefined : { v6: false, value: v4 };
  }
  const v6 = parseV6(text);
  if (v6 === undefined) return undefined;
  if (v6 >> 32n === 0xffffn) return { v6: false, value: v6 & 0xffffffffn };
  return { v6: true, value: v6 };
}

function parseV4(text: string): bigint | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    value = (value << 8n) | BigInt(part);
  }
  return value;
}

function parseV6(text: string): bigint | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (half: string): bigint[] | undefined => {
    if (half === "") return [];
    const out: bigint[] = [];
    const parts = half.split(":");
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (i === parts.length - 1 && part.includes(".")) {
        const v4 = parseV4(part);
        if (v4 === undefined) return undefined;
        out.push(v4 >> 16n, v4 & 0xffffn);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(part)) {
        out.push(BigInt(`0x${part}`));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (head === undefined || tail === undefined) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  let value = 0n;
  for (const g of [...head, ...new Array<bigint>(missing).fill(0n), ...tail]) {
    value = (value << 16n) | g;
  }
  return value;
}
