/**
 * CRC-64/NVME (S3's x-amz-checksum-crc64nvme): polynomial 0xAD93D23594C93659, reflected, init and
 * xorout all ones; check value of "123456789" = 0xAE8B14860A799888. ISA-L 2.30 lacks it.
 *
 * Slicing-by-8 on 32-bit halves: BigInt arithmetic is ~50× slower than number arithmetic, so the
 * 64-bit state lives in two uint32 numbers and BigInt appears only at the API edge.
 */

const POLY = 0xad93d23594c93659n;

function reflect64(value: bigint): bigint {
  let out = 0n;
  for (let i = 0; i < 64; i++) out = (out << 1n) | ((value >> BigInt(i)) & 1n);
  return out;
}

/** Tables T0…T7, low and high halves: Tk[n] = CRC of byte n followed by k zero bytes. */
function buildTables(): { lo: Uint32Array; hi: Uint32Array } {
  const reflected = reflect64(POLY);
  const polyLo = Number(reflected & 0xffffffffn);
  const polyHi = Number(reflected >> 32n);
  const lo = new Uint32Array(8 * 256);
  const hi = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let l = n;
    let h = 0;
    for (let bit = 0; bit < 8; bit++) {
      const carry = l & 1;
      l = ((l >>> 1) | (h << 31)) >>> 0;
      h >>>= 1;
      if (carry) {
        l = (l ^ polyLo) >>> 0;
        h = (h ^ polyHi) >>> 0;
      }
    }
    lo[n] = l;
    hi[n] = h;
  }
  for (let k = 1; k < 8; k++) {
    for (let n = 0; n < 256; n++) {
      const pl = lo[(k - 1) * 256 + n];
      const ph = hi[(k - 1) * 256 + n];
      const index = pl & 0xff;
      lo[k * 256 + n] = (((pl >>> 8) | (ph << 24)) ^ lo[index]) >>> 0;
      hi[k * 256 + n] = ((ph >>> 8) ^ hi[index]) >>> 0;
    }
  }
  return { lo, hi };
}

const { lo: LO, hi: HI } = buildTables();

/** Incremental CRC-64/NVME. */
export class Crc64Nvme {
  // The register, pre-inverted (init = all ones).
  private lo = 0xffffffff;
  private hi = 0xffffffff;

  update(data: Uint8Array): void {
    let lo = this.lo;
    let hi = this.hi;
    let i = 0;
    const end8 = data.length - (data.length & 7);
    while (i < end8) {
      lo ^= data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24);
      hi ^= data[i + 4] | (data[i + 5] << 8) | (data[i + 6] << 16) | (data[i + 7] << 24);
      const nl = LO[1792 + (lo & 0xff)] ^ LO[1536 + ((lo >>> 8) & 0xff)] ^
        LO[1280 + ((lo >>> 16) & 0xff)] ^ LO[1024 + (lo >>> 24)] ^ LO[768 + (hi & 0xff)] ^
        LO[512 + ((hi >>> 8) & 0xff)] ^ LO[256 + ((hi >>> 16) & 0xff)] ^ LO[hi >>> 24];
      const nh = HI[1792 + (lo & 0xff)] ^ HI[1536 + ((lo >>> 8) & 0xff)] ^
        HI[1280 + ((lo >>> 16) & 0xff)] ^ HI[1024 + (lo >>> 24)] ^ HI[768 + (hi & 0xff)] ^
        HI[512 + ((hi >>> 8) & 0xff)] ^ HI[256 + ((hi >>> 16) & 0xff)] ^ HI[hi >>> 24];
      lo = nl;
      hi = nh;
      i += 8;
    }
    for (; i < data.length; i++) {
      const index = (lo ^ data[i]) & 0xff;
      lo = (lo >>> 8) | (hi << 24);
      lo ^= LO[index];
      hi = (hi >>> 8) ^ HI[index];
    }
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
  }

  /** The CRC as 8 big-endian bytes, as S3 encodes it (in base64). */
  digest(): Uint8Array {
    const out = new Uint8Array(8);
    const view = new DataView(out.buffer);
    view.setUint32(0, ~this.hi >>> 0);
    view.setUint32(4, ~this.lo >>> 0);
    return out;
  }

  value(): bigint {
    return (BigInt(~this.hi >>> 0) << 32n) | BigInt(~this.lo >>> 0);
  }
}

/** CRC-64/NVME of `data` in one call. */
export function crc64nvme(data: Uint8Array): bigint {
  const crc = new Crc64Nvme();
  crc.update(data);
  return crc.value();
}
