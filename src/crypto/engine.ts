/**
 * The AES-256-GCM engine of packages and key seals, chosen once at import (the server opens
 * its libraries before it revokes ffi): Intel's IPsec Multi-Buffer library where it loads and
 * the CPU suits it (x86-64), else OpenSSL where libcrypto loads, else Web Crypto. HMAC-SHA256
 * comes from OpenSSL whichever cipher is chosen.
 */

import type { GcmEngine } from "./gcm.ts";
import { webCryptoGcm } from "./gcm.ts";
import { ipsecMbGcm } from "./ipsec-mb-gcm.ts";
import { openSslGcm } from "./openssl-gcm.ts";

const openSsl = openSslGcm();
const ipsecMb = ipsecMbGcm({ hmacSha256: openSsl?.hmacSha256 });

export const aesGcm: GcmEngine = ipsecMb ?? openSsl ?? webCryptoGcm;
