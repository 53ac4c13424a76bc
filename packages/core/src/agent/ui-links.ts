/**
 * Capability links to a session's web UI (the Dask dashboard, a Spark UI), for the JupyterLab
 * panel that shows it in a sandboxed frame. That frame has an opaque origin, so it carries none
 * of JupyterLab's cookies and cannot use Jupyter's authentication; what admits its requests is
 * the link itself: 256 random bits, made by the agent on an authenticated API call, bound to one
 * session and one endpoint, held only in this process's memory, and gone when revoked (the tab
 * closed), when its session ends, or after `UI_LINK_IDLE_MS` without a request. The browser
 * reaches it as `<base_url>hpc-jupyter-ui/<link>/...` (the Jupyter server extension
 * `hpc_jupyter.ui_route`), which the agent sees as `/ui/<link>/...`.
 *
 * Links are kept by their SHA-256, so a lookup's timing says nothing about how much of a guess
 * was right, and the digests are compared in constant time. A link is never logged, stored in a
 * record or put in an error message: `redactUiLink` is for every path the agent writes down.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AgentEvent } from '../sessions/types.js';
import { isFinal } from '../schedulers/types.js';
import type { ProxiedTarget } from './session-proxy.js';

/** The agent's path prefix for UI links. */
export const UI_LINK_PREFIX = '/ui/';
/** A link unused this long is forgotten (HPC_JUPYTER_UI_LINK_IDLE_SECONDS overrides it). */
export const UI_LINK_IDLE_MS = 30 * 60_000;
export const UI_LINK_IDLE_ENV = 'HPC_JUPYTER_UI_LINK_IDLE_SECONDS';
/** At most this many links at once; minting one more forgets the least recently used. */
export const MAX_UI_LINKS = 256;
/** 32 random bytes in base64url. */
const LINK = /^[A-Za-z0-9_-]{43}$/;

export interface UiLinkGrant {
  /** The session. */
  readonly id: string;
  /** Its endpoint (a web UI). */
  readonly endpoint: string;
}

interface Entry extends UiLinkGrant {
  readonly digest: Buffer;
  lastUsed: number;
}

export interface UiLinksOptions {
  readonly idleMs?: number;
  readonly max?: number;
  /** The clock (ms); Date.now by default. */
  readonly now?: () => number;
}

/** The idle time from the environment (whole seconds > 0), else UI_LINK_IDLE_MS. */
export function uiLinkIdleMs(env: NodeJS.ProcessEnv = process.env): number {
  const value = env[UI_LINK_IDLE_ENV];
  return value !== undefined && /^[1-9][0-9]{0,6}$/.test(value)
    ? Number(value) * 1000
    : UI_LINK_IDLE_MS;
}

function digestOf(link: string): Buffer {
  return createHash('sha256').update(link, 'utf8').digest();
}

export class UiLinks {
  /** By the hex SHA-256 of the link; Map order is least recently used first. */
  private readonly entries = new Map<string, Entry>();
  private readonly idleMs: number;
  private readonly max: number;
  private readonly now: () => number;

  constructor(options: UiLinksOptions = {}) {
    this.idleMs = options.idleMs ?? uiLinkIdleMs();
    this.max = options.max ?? MAX_UI_LINKS;
    this.now = options.now ?? Date.now;
  }

  /** How long a link may go unused. */
  get idleSeconds(): number {
    return Math.max(1, Math.round(this.idleMs / 1000));
  }

  get size(): number {
    this.sweep();
    return this.entries.size;
  }

  /** A new link to `endpoint` of session `id`. */
  mint(id: string, endpoint: string): string {
    this.sweep();
    const link = randomBytes(32).toString('base64url');
    const digest = digestOf(link);
    this.entries.set(digest.toString('hex'), { id, endpoint, digest, lastUsed: this.now() });
    while (this.entries.size > this.max) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
    return link;
  }

  /** What a link grants, counting this as a use; undefined when unknown, expired or revoked. */
  resolve(link: string): UiLinkGrant | undefined {
    const entry = this.find(link);
    if (entry === undefined) return undefined;
    entry.lastUsed = this.now();
    // Most recently used last.
    const key = entry.digest.toString('hex');
    this.entries.delete(key);
    this.entries.set(key, entry);
    return { id: entry.id, endpoint: entry.endpoint };
  }

  /** Forgets a link; true when it was live. */
  revoke(link: string): boolean {
    const entry = this.find(link);
    if (entry === undefined) return false;
    this.entries.delete(entry.digest.toString('hex'));
    return true;
  }

  /** Forgets every link to a session; how many there were. */
  revokeSession(id: string): number {
    let count = 0;
    for (const [key, entry] of this.entries) {
      if (entry.id !== id) continue;
      this.entries.delete(key);
      count++;
    }
    return count;
  }

  /** Revokes a session's links when it ends or is removed (subscribe to the session service). */
  onEvent(event: AgentEvent): void {
    if (event.type === 'session-removed') this.revokeSession(event.id);
    else if (event.type === 'session' && isFinal(event.session.state)) {
      this.revokeSession(event.session.id);
    }
  }

  clear(): void {
    this.entries.clear();
  }

  private find(link: string): Entry | undefined {
    if (!LINK.test(link)) return undefined;
    const digest = digestOf(link);
    const entry = this.entries.get(digest.toString('hex'));
    if (entry === undefined || !timingSafeEqual(entry.digest, digest)) return undefined;
    if (this.now() - entry.lastUsed > this.idleMs) {
      this.entries.delete(digest.toString('hex'));
      return undefined;
    }
    return entry;
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) {
      if (now - entry.lastUsed > this.idleMs) this.entries.delete(key);
    }
  }
}

/** True when the request target is under the UI link prefix (whatever the link). */
export function isUiLinkUrl(url: string | undefined): boolean {
  return url?.startsWith(UI_LINK_PREFIX) === true;
}

/** A path fit to write down: the link in `/ui/<link>/...` replaced. */
export function redactUiLink(path: string): string {
  return isUiLinkUrl(path) ? path.replace(/^\/ui\/[^/?#]*/, '/ui/(link)') : path;
}

/**
 * Where a `/ui/<link>/...` request goes: the granted endpoint, at the rest of the path. The
 * context the agent adds is empty: the proxy in front (the Jupyter server extension) names the
 * whole prefix the browser sees in X-Forwarded-Context. Undefined when the link is not live.
 */
export function uiLinkTarget(url: string, links: UiLinks): ProxiedTarget | undefined {
  if (!isUiLinkUrl(url)) return undefined;
  const match = /^([^/?#]*)(.*)$/s.exec(url.slice(UI_LINK_PREFIX.length));
  const [, link = '', rest = ''] = match ?? [];
  const grant = links.resolve(link);
  if (grant === undefined) return undefined;
  const path = rest === '' ? '/' : rest.startsWith('/') ? rest : `/${rest}`;
  return { id: grant.id, endpoint: grant.endpoint, path, context: '' };
}
