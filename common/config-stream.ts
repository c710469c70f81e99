// The config channel between the operator and its sidecars (port 15012, ADR 0020), in one place
// so both ends agree: paths, the token's audience and file, and the events of the stream.

/** Port of the config stream and health reports (DESIGN.md). */
export const CONFIG_SERVER_PORT = 15012;
/** `GET` with `?generation=N&digest=D` (what the client holds): the stream of events. */
export const STREAM_PATH = '/v1/config';
/** `POST` a SidecarHealthReport (common/health.ts). */
export const REPORT_PATH = '/v1/reports';
/**
 * Response header of a report: `false` when the replica that took it does not write status (not
 * the leader). It aggregated the report all the same; the sidecar sends it again to reach the
 * leader (ADR 0024).
 */
export const REPORT_WRITER_HEADER = 'hookgate-report-writer';
/** Response header of the stream: the heartbeat interval in milliseconds. */
export const HEARTBEAT_HEADER = 'hookgate-heartbeat-ms';
/** The audience sidecar tokens are minted for (DESIGN.md). */
export const SIDECAR_AUDIENCE = 'hookgate.io/sidecar';
/** Where the injector mounts the sidecar's projected token. */
export const SIDECAR_TOKEN_DIR = '/var/run/secrets/hookgate.io';
/** The token file, reread on every connect and report (the kubelet refreshes it). */
export const SIDECAR_TOKEN_PATH = `${SIDECAR_TOKEN_DIR}/token`;

/** One pod's configuration, as the stream sends it. */
export interface ConfigEvent {
  readonly type: 'CONFIG';
  /** The published generation: only moves forward. */
  readonly generation: number;
  /** Identifies this exact view (config and secrets); sent back on reconnect. */
  readonly digest: string;
  /** The config file's text (JSON, which is YAML). */
  readonly config: string;
  /** Base64 secret values by the file path the config names (`{file: <path>}`). */
  readonly secrets: Readonly<Record<string, string>>;
}

/** A keep-alive carrying the generation the server believes the client holds. */
export interface HeartbeatEvent {
  readonly type: 'HEARTBEAT';
  readonly generation: number;
}

/** One line of the stream. */
export type StreamEvent = ConfigEvent | HeartbeatEvent;
