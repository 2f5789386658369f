/**
 * Where each S3 request ends up once it is served: one audit entry (when an audit log is
 * configured) and the request metrics. The S3 app fills a RequestRecord while it serves the
 * request and hands it over after the last byte of the response body.
 */

import type { Config } from "../config.ts";
import type { Maintenance, ObjectLayer } from "../object/layer.ts";
import { auditEntry, type AuditLog, openAuditLog } from "./audit.ts";
import { unhandledErrorCounts } from "./crash-guard.ts";
import { Metrics } from "./metrics.ts";
import type { RequestTrace } from "./trace.ts";

/** Operation name of a request refused before it could be routed to an S3 operation. */
export const UNROUTED = "Unrouted";

export interface RequestRecord {
  /** The request id (x-amz-request-id) and phase timings. */
  trace: RequestTrace;
  /** S3 operation, e.g. "PutObject"; undefined when routing refused the request. */
  operation?: string;
  /** "" for service operations and unrouted requests. */
  bucket: string;
  key: string;
  /** "" for anonymous requests. */
  accessKey: string;
  status: number;
  /** Bytes of request body read (as sent, before aws-chunked decoding). */
  bytesIn: number;
  /** Bytes of response body taken by the HTTP server. */
  bytesOut: number;
  remoteAddr: string;
  /** Refused for a missing, malformed or wrong signature or credential. */
  authFailed: boolean;
}

/** What the metrics read from the layer: storage, and the scanner's figures where it runs one. */
type ObservedLayer =
  & Pick<ObjectLayer, "storageInfo">
  & Partial<Pick<Maintenance, "scannerStatus" | "usage">>;

export interface RequestObserver {
  onRequest(record: RequestRecord): void;
}

/** Metrics and the optional audit log of one server. */
export class Observability implements RequestObserver {
  readonly metrics: Metrics;

  constructor(layer: ObservedLayer, readonly audit?: AuditLog) {
    const { scannerStatus, usage } = layer;
    this.metrics = new Metrics({
      storageInfo: () => layer.storageInfo(),
      scanner: scannerStatus && usage &&
        (() => ({ status: scannerStatus.call(layer), usage: usage.call(layer) })),
      auditDropped: audit && (() => audit.dropped),
      unhandledErrors: unhandledErrorCounts,
    });
  }

  /** Opens the audit log named by --audit-log, if any. */
  static fromConfig(
    config: Pick<Config, "auditLog">,
    layer: ObservedLayer,
  ): Observability {
    return new Observability(layer, openAuditLog(config.auditLog));
  }

  onRequest(record: RequestRecord): void {
    const operation = record.operation ?? UNROUTED;
    const { totalMs } = record.trace.finish();
    this.metrics.observeRequest({
      operation,
      status: record.status,
      durationSeconds: totalMs / 1000,
      bytesIn: record.bytesIn,
      bytesOut: record.bytesOut,
    });
    if (record.authFailed) this.metrics.authFailure();
    this.audit?.log(auditEntry(record.trace, {
      accessKey: record.accessKey,
      operation,
      bucket: record.bucket || undefined,
      object: record.key || undefined,
      status: record.status,
      bytesIn: record.bytesIn,
      bytesOut: record.bytesOut,
      remoteAddress: record.remoteAddr,
    }));
  }
}
