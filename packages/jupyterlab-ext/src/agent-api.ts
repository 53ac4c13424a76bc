/**
 * The one module that speaks HTTP to the agent. Everything goes through jupyter-server-proxy at
 * `<base_url>hpc-jupyter/`, which forwards to the agent's unix socket with Jupyter's own
 * authentication in front; the proxy strips the prefix, so the agent sees its usual `/v1/...`
 * routes. `fetch` is injected (ServerConnection.makeRequest in the browser, a fake in tests).
 * Every call sends `X-HPC-Jupyter: 1`: the agent refuses state changes without it, which is what
 * keeps other web pages (that cannot send it without a CORS preflight) out.
 */
import type {
  AccessResponse,
  ApiErrorBody,
  AttachResponse,
  ClustersResponse,
  KernelspecInstallResponse,
  LogsResponse,
  ParamValue,
  PromptReply,
  SessionRecord,
  SessionSpec,
  TemplateForm,
  TemplateSummary,
  TemplatesResponse,
} from './agent-types.js';

/** The proxy path jupyter-server-proxy serves the agent under (see `hpc-jupyter jupyterlab`). */
export const PROXY_NAME = 'hpc-jupyter';

/** The Jupyter server route (hpc_jupyter/ui_route.py) that serves web UIs by capability link. */
export const UI_ROUTE_NAME = 'hpc-jupyter-ui';

/** The answer to `POST /v1/sessions/{id}/endpoints/{endpoint}/ui-link`. */
export interface UiLinkResponse {
  readonly link: string;
  readonly idleSeconds: number;
}

export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/** The header the agent wants on every state-changing request (core's request-guard.ts). */
export const CLIENT_HEADER = 'X-HPC-Jupyter';
export const CLIENT_HEADER_VALUE = '1';

/** An error the agent (or the proxy in front of it) answered with. */
export class AgentApiError extends Error {
  override readonly name = 'AgentApiError';
  constructor(
    message: string,
    readonly status: number,
    readonly body?: ApiErrorBody['error'],
  ) {
    super(message);
  }

  /** Per-field problems of rejected job parameters, by parameter name. */
  get problems(): Readonly<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const p of this.body?.problems ?? []) out[p.param] = p.message;
    return out;
  }

  /** The proxy could not reach the agent's socket: the agent is not running. */
  get agentDown(): boolean {
    return this.status === 502 || this.status === 503 || this.status === 599;
  }
}

export class AgentApi {
  /** `baseUrl` is Jupyter's base URL, ending in `/`. */
  constructor(
    private readonly baseUrl: string,
    private readonly fetch: FetchLike,
  ) {}

  /** The agent's root behind the proxy, ending in `/`. */
  get agentUrl(): string {
    return `${this.baseUrl}${PROXY_NAME}/`;
  }

  /**
   * Where the event stream is: one EventSource for the whole sidebar. An EventSource cannot send
   * headers; it needs none, being a same-origin GET (the agent refuses it from any other page).
   */
  get eventsUrl(): string {
    return `${this.agentUrl}v1/events`;
  }

  clusters(): Promise<ClustersResponse> {
    return this.call('GET', 'v1/clusters');
  }

  async templates(): Promise<readonly TemplateSummary[]> {
    return (await this.call<TemplatesResponse>('GET', 'v1/templates')).templates;
  }

  templateForm(template: string, cluster: string): Promise<TemplateForm> {
    return this.call('GET', `v1/templates/${enc(template)}/form?cluster=${enc(cluster)}`);
  }

  startSession(spec: SessionSpec): Promise<SessionRecord> {
    return this.call('POST', 'v1/sessions', spec);
  }

  stopSession(id: string): Promise<SessionRecord> {
    return this.call('DELETE', `v1/sessions/${enc(id)}`);
  }

  async forgetSession(id: string): Promise<void> {
    await this.call('POST', `v1/sessions/${enc(id)}/forget`);
  }

  async logs(id: string, lines: number): Promise<string> {
    return (await this.call<LogsResponse>('GET', `v1/sessions/${enc(id)}/logs?lines=${lines}`))
      .text;
  }

  access(id: string): Promise<AccessResponse> {
    return this.call('POST', `v1/sessions/${enc(id)}/access`);
  }

  /**
   * Readies a client on this machine for the session's Dask or ipyparallel cluster (forwards,
   * client files); the code inserted into a notebook asks the same through hpc_jupyter.client.
   */
  attach(id: string): Promise<AttachResponse> {
    return this.call('POST', `v1/sessions/${enc(id)}/attach`);
  }

  /**
   * Where one of a session's web UIs is, through the agent's endpoint proxy (same origin as
   * JupyterLab, behind its authentication); `path` is from the UI's root, e.g. "/status".
   */
  endpointUrl(id: string, endpoint: string, path = '/'): string {
    const rest = path.startsWith('/') ? path : `/${path}`;
    return `${this.agentUrl}endpoints/${enc(id)}/${enc(endpoint)}${rest}`;
  }

  /**
   * A capability link to one of a session's web UIs, for the panel's sandboxed frame
   * (dashboard-panel.ts): 256 random bits the agent makes and keeps in memory, which end when
   * revoked, when the session ends, or after `idleSeconds` unused.
   */
  uiLink(id: string, endpoint: string): Promise<UiLinkResponse> {
    return this.call('POST', `v1/sessions/${enc(id)}/endpoints/${enc(endpoint)}/ui-link`);
  }

  /**
   * Where a link's UI is: `<base_url>hpc-jupyter-ui/<link><path>`, the Jupyter server extension
   * `hpc_jupyter.ui_route`, which admits a request by its link alone (no cookie, no login).
   */
  uiLinkUrl(link: string, path = '/'): string {
    const rest = path.startsWith('/') ? path : `/${path}`;
    return `${this.baseUrl}${UI_ROUTE_NAME}/${enc(link)}${rest}`;
  }

  /** Ends a link (its panel closed); the link goes in the body, never in a path. */
  async revokeUiLink(link: string): Promise<void> {
    await this.call('POST', 'v1/ui-links/revoke', { link });
  }

  /** Saves a kernel template + cluster + parameters as a profile and installs its kernelspec. */
  installKernel(request: {
    readonly displayName: string;
    readonly cluster: string;
    readonly template: string;
    readonly params: Readonly<Record<string, ParamValue>>;
  }): Promise<KernelspecInstallResponse> {
    return this.call('POST', 'v1/kernelspecs', request);
  }

  async answerPrompt(id: string, reply: PromptReply): Promise<void> {
    await this.call('POST', `v1/prompts/${enc(id)}`, reply);
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { [CLIENT_HEADER]: CLIENT_HEADER_VALUE };
    const init: RequestInit = { method, headers };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      headers['content-type'] = 'application/json';
    }
    let res: Response;
    try {
      res = await this.fetch(this.agentUrl + path, init);
    } catch (err) {
      throw new AgentApiError(`Cannot reach Jupyter's server: ${String(err)}`, 0);
    }
    const text = await res.text();
    if (res.ok) return (text === '' ? undefined : JSON.parse(text)) as T;
    throw errorFrom(res.status, text);
  }
}

export function errorFrom(status: number, text: string): AgentApiError {
  let body: ApiErrorBody['error'] | undefined;
  try {
    const parsed = JSON.parse(text) as Partial<ApiErrorBody>;
    body = parsed.error;
  } catch {
    body = undefined;
  }
  if (body !== undefined) {
    const hint = body.hint === undefined ? '' : ` ${body.hint}`;
    return new AgentApiError(`${body.message}${hint}`, status, body);
  }
  if (status === 502 || status === 503 || status === 599) {
    return new AgentApiError(
      'The hpc-jupyter agent is not running. Start it with `hpc-jupyter agent &` (any ' +
        '`hpc-jupyter` command also starts it), then reload.',
      status,
    );
  }
  return new AgentApiError(`The agent answered ${status}: ${text.slice(0, 200)}`, status);
}

function enc(value: string): string {
  return encodeURIComponent(value);
}
