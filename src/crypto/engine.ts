/**
 * The AES-256-GCM engine of packages and key seals, chosen once at import (the server opens
 * its libraries before it revokes ffi): OpenSSL where libcrypto loads, else Web Crypto.
 */

import type { GcmEngine } from "./gcm.ts";
import { webCryptoGcm } from "./gcm.ts";
import { openSslGcm } from "./openssl-gcm.ts";

export const aesGcm: GcmEngine = openSslGcm() ?? webCryptoGcm;
