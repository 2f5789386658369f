/**
 * Prometheus metrics on a private prom-client Registry, served at /flashstor/v1/metrics.
 *
 * Request counters are pushed by the server as requests finish; drive, heal and audit figures are
 * pulled from callbacks at scrape time, so this module knows nothing of storage.
 */

import { createHash, timingSafeEqual } from "node:crypto";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { StorageInfo } from "../object/layer.ts";
import type { UnhandledKind } from "./crash-guard.ts";
import { type ScannerFigures, ScannerMetrics } from "./scanner-metrics.ts";
import { HealMetrics } from "./heal-metrics.ts";
import type { DriveState } from "../storage/drive-handle.ts";

const DRIVE_STATES: readonly DriveState[] = ["online", "offline", "healing"];

export const METRICS_PATH = "/flashstor/v1/metrics";

/** Seconds; from a cached small GET (~1 ms) to a multi-GiB upload. */
const LATENCY_BUCKETS = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
];

/** Pulled at every scrape; each is optional. */
export interface MetricsSources {
  /** Drives and, when the layer reports it, the heal queue length. */
  storageInfo?: () => Promise<StorageInfo>;
  /** Running total of dropped audit entries (AuditLog.dropped). */
  auditDropped?: () => number;
  /** Running totals of errors the crash guard caught (crash-guard.ts), by kind. */
  unhandledErrors?: () => Readonly<Record<UnhandledKind, number>>;
  /** The background scanner's totals and the bucket usage it counted. */
  scanner?: () => ScannerFigures;
}

export interface RequestObservation {
  operation: string;
  status: number;
  durationSeconds: number;
  bytesIn: number;
  bytesOut: number;
}

export class Metrics {
  readonly registry = new Registry();
  readonly #sources: MetricsSources;
  readonly #requests: Counter<"operation" | "status">;
  readonly #duration: Histogram<"operation">;
  readonly #bytesIn: Counter;
  readonly #bytesOut: Counter;
  readonly #authFailures: Counter;
  readonly #driveOnline: Gauge<"drive">;
  readonly #driveFree: Gauge<"drive">;
  readonly #driveState: Gauge<"drive" | "state">;
  readonly #healQueue: Gauge;
  readonly #auditDropped: Counter;
  #auditDroppedSeen = 0;
  readonly #unhandled: Counter<"kind">;
  readonly #unhandledSeen: Record<UnhandledKind, number> = { rejection: 0, exception: 0 };
  readonly #scanner: ScannerMetrics;
  readonly #heal: HealMetrics;

  constructor(sources: MetricsSources = {}) {
    this.#sources = sources;
    const registers = [this.registry];
    this.#requests = new Counter({
      name: "flashstor_requests_total",
      help: "S3 requests by operation and HTTP status",
      labelNames: ["operation", "status"] as const,
      registers,
    });
    this.#duration = new Histogram({
      name: "flashstor_request_duration_seconds",
      help: "Request latency from arrival to the last byte of the response",
      labelNames: ["operation"] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#bytesIn = new Counter({
      name: "flashstor_bytes_received_total",
      help: "Request body bytes received",
      registers,
    });
    this.#bytesOut = new Counter({
      name: "flashstor_bytes_sent_total",
      help: "Response body bytes sent",
      registers,
    });
    this.#authFailures = new Counter({
      name: "flashstor_auth_failures_total",
      help: "Requests refused for a missing, malformed or wrong signature or credential",
      registers,
    });
    this.#driveOnline = new Gauge({
      name: "flashstor_drive_online",
      help: "1 when the drive takes reads and writes (online or healing), 0 when offline",
      labelNames: ["drive"] as const,
      registers,
    });
    this.#driveState = new Gauge({
      name: "flashstor_drive_state",
      help: "1 for the drive's current state (online, offline, healing), 0 for the others",
      labelNames: ["drive", "state"] as const,
      registers,
    });
    this.#driveFree = new Gauge({
      name: "flashstor_drive_free_bytes",
      help: "Free bytes on the drive's file system",
      labelNames: ["drive"] as const,
      registers,
    });
    this.#healQueue = new Gauge({
      name: "flashstor_heal_queue_length",
      help: "Objects waiting to be healed",
      registers,
    });
    this.#auditDropped = new Counter({
      name: "flashstor_audit_dropped_total",
      help: "Audit entries dropped because the audit queue was full",
      registers,
    });
    this.#scanner = new ScannerMetrics(registers);
    this.#heal = new HealMetrics(registers);
    this.#unhandled = new Counter({
      name: "flashstor_unhandled_errors_total",
      help: "Errors no handler caught (rejected promises, exceptions), kept from ending the server",
      labelNames: ["kind"] as const,
      registers,
    });
  }

  /** Records one finished request. */
  observeRequest(r: RequestObservation): void {
    this.#requests.inc({ operation: r.operation, status: String(r.status) });
    this.#duration.observe({ operation: r.operation }, r.durationSeconds);
    if (r.bytesIn > 0) this.#bytesIn.inc(r.bytesIn);
    if (r.bytesOut > 0) this.#bytesOut.inc(r.bytesOut);
  }

  authFailure(): void {
    this.#authFailures.inc();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Pulls the sources, then renders the text exposition format. */
  async render(): Promise<string> {
    const { storageInfo, auditDropped, unhandledErrors } = this.#sources;
    if (storageInfo) {
      const info = await storageInfo();
      // Reset so that drives no longer reported do not linger with stale values.
      this.#driveOnline.reset();
      this.#driveFree.reset();
      this.#driveState.reset();
      for (const drive of info.drives) {
        this.#driveOnline.set({ drive: drive.endpoint }, drive.online ? 1 : 0);
        for (const state of DRIVE_STATES) {
          this.#driveState.set({ drive: drive.endpoint, state }, drive.state === state ? 1 : 0);
        }
        if (drive.online) this.#driveFree.set({ drive: drive.endpoint }, drive.free);
      }
      if (info.healQueueLength !== undefined) this.#healQueue.set(info.healQueueLength);
      if (info.heals) this.#heal.update(info.heals);
    }
    if (auditDropped) {
      const total = auditDropped();
      if (total > this.#auditDroppedSeen) this.#auditDropped.inc(total - this.#auditDroppedSeen);
      this.#auditDroppedSeen = Math.max(total, this.#auditDroppedSeen);
    }
    if (unhandledErrors) {
      for (const [kind, total] of Object.entries(unhandledErrors()) as [UnhandledKind, number][]) {
        // Always inc (by 0 too), so that the series exists before the first error.
        this.#unhandled.inc({ kind }, Math.max(0, total - this.#unhandledSeen[kind]));
        this.#unhandledSeen[kind] = Math.max(total, this.#unhandledSeen[kind]);
      }
    }
    if (this.#sources.scanner) this.#scanner.update(this.#sources.scanner());
    return await this.registry.metrics();
  }
}

const digest = (value: string) => createHash("sha256").update(value).digest();

/**
 * Whether `request` may read the metrics: always when `isPublic`, otherwise only with
 * `Authorization: Bearer <token>`. No configured token and not public means nobody may.
 * Compared in constant time (over SHA-256 digests, so lengths do not leak either).
 */
export function checkMetricsAuth(
  request: Request,
  token: string | undefined,
  isPublic: boolean,
): boolean {
  if (isPublic) return true;
  if (!token) return false;
  const header = request.headers.get("authorization") ?? "";
  const match = /^Bearer +(\S+) *$/i.exec(header);
  return match !== null && timingSafeEqual(digest(match[1]), digest(token));
}

/** The whole endpoint: 401 without a valid token, else the rendered metrics. */
export async function metricsResponse(
  request: Request,
  metrics: Metrics,
  access: { token?: string; isPublic: boolean },
): Promise<Response> {
  if (!checkMetricsAuth(request, access.token, access.isPublic)) {
    return new Response("unauthorized\n", {
      status: 401,
      headers: { "www-authenticate": 'Bearer realm="flashstor-metrics"' },
    });
  }
  return new Response(await metrics.render(), {
    headers: { "content-type": metrics.contentType },
  });
}
