/**
 * The JSON shapes of the agent's HTTP API that are not session shapes (those live in
 * sessions/types.ts), shared by the server and AgentClient. `openapi/agent.yaml` describes the
 * same shapes for everyone else; change both together.
 */
import type { ParameterProblem } from '../errors.js';
import type { SchedulerKind, SiteInfo } from '../schedulers/types.js';
import type {
  AgentEvent,
  EngineAttachment,
  PromptEvent,
  SessionEndpoint,
  SessionRecord,
} from '../sessions/types.js';
import type { TemplateForm, TemplateSummary } from './template-catalog.js';

/** Every error answer: `{ error: { message, hint, kind } }`. */
export interface ApiErrorBody {
  readonly error: {
    readonly message: string;
    readonly hint?: string;
    /** The error class the agent raised, e.g. "InvalidInputError", "SshError". */
    readonly kind: string;
    /** For invalid job parameters: the template and every bad field. */
    readonly template?: string;
    readonly problems?: readonly ParameterProblem[];
    /** For a session that ended badly: the last lines of its job's log. */
    readonly logTail?: string;
  };
}

export interface HealthInfo {
  readonly version: string;
  readonly pid: number;
  readonly uptimeSeconds: number;
  /** Sessions in the store, ended ones included. */
  readonly sessions: number;
  /** Sessions that have not ended: while there are any, the agent does not stop when idle. */
  readonly liveSessions: number;
  /** Clients attached to the event stream right now. */
  readonly eventClients: number;
}

export interface ConfigProblemInfo {
  readonly message: string;
  readonly file: string;
  readonly line?: number;
  readonly keyPath?: string;
}

export interface ClusterInfo {
  readonly name: string;
  readonly title?: string;
  readonly scheduler: SchedulerKind;
  /** The SSH host (alias or name) for remote clusters; absent for this machine. */
  readonly host?: string;
  /** The file that defined it, or "<built-in>". */
  readonly source: string;
}

export interface ClustersResponse {
  readonly clusters: readonly ClusterInfo[];
  /** Configuration problems; entries with problems are left out of `clusters`. */
  readonly problems: readonly ConfigProblemInfo[];
}

export type SiteResponse = SiteInfo;

export interface TemplatesResponse {
  readonly templates: readonly TemplateSummary[];
}

export type TemplateFormResponse = TemplateForm;

export interface SessionsResponse {
  readonly sessions: readonly SessionRecord[];
}

export interface LogsResponse {
  readonly id: string;
  readonly text: string;
}

/** A loopback address for one endpoint of a session, and the secret to use it with. */
export interface AccessResponse {
  readonly url: string;
  readonly localHost: string;
  readonly localPort: number;
  readonly endpoint: SessionEndpoint;
  /** The Jupyter token or kernel key; sent only over the agent's private socket. */
  readonly token?: string;
}

/**
 * `POST /v1/sessions/{id}/attach`: an engine's scheduler or controller through local forwards,
 * and where its client files (0600, in a 0700 directory) were written. Names files, holds no
 * secret.
 */
export type AttachResponse = EngineAttachment;

/**
 * `POST /v1/kernelspecs`: the profile written to the user's config file and the kernelspec
 * installed for it in the user's Jupyter data directory.
 */
export interface KernelspecInstallResponse {
  readonly profile: string;
  readonly displayName: string;
  /** The kernelspec's name, `hpcj-<profile>`: what Jupyter's kernelspec API lists. */
  readonly kernelspec: string;
  /** Its directory (holding kernel.json). */
  readonly dir: string;
  /** The config file the profile was written to. */
  readonly configFile: string;
  /** True when a profile of that name already existed and was replaced. */
  readonly replaced?: boolean;
}

/** What an open lease (`POST /v1/sessions/{id}/lease`) streams, one JSON object per line. */
export type LeaseEvent =
  | {
      readonly type: 'lease';
      readonly id: string;
      readonly graceSeconds: number;
      /** The new session, when the lease came with `POST /v1/sessions` (a launcher's start). */
      readonly session?: SessionRecord;
    }
  | { readonly type: 'ping' };

/** `POST /v1/sessions/{id}/hold`: the session is kept through lost leases until `until`. */
export interface HoldResponse {
  readonly id: string;
  readonly until: string;
}

export interface PromptsResponse {
  readonly prompts: readonly PromptEvent[];
}

/** The answer to a prompt: text, one text per keyboard-interactive question, or trust (host key). */
export type PromptAnswer = string | readonly string[] | boolean;

/** `POST /v1/prompts/{id}`: an answer, or `{ decline: true }` to say no. */
export type PromptReply =
  { readonly answer: PromptAnswer } | { readonly decline: true; readonly answer?: undefined };

/** The first event on every stream: everything a client needs to draw, before any change. */
export interface SnapshotEvent {
  readonly type: 'snapshot';
  readonly sessions: readonly SessionRecord[];
  readonly prompts: readonly PromptEvent[];
}

/** What `GET /v1/events` streams: the snapshot, then every AgentEvent as it happens. */
export type AgentStreamEvent = SnapshotEvent | AgentEvent;

export const AGENT_EVENT_TYPES: readonly AgentStreamEvent['type'][] = [
  'snapshot',
  'session',
  'session-removed',
  'prompt',
  'prompt-answered',
  'cluster',
];
