/**
 * What the API routes are given, and the whole route table. The table is the single list of
 * routes the server serves; `openapi/agent.yaml` is checked against it by agent-openapi.test.ts.
 */
import type { LoadedConfig } from '../config/types.js';
import { NotFoundError } from '../errors.js';
import type { Scheduler } from '../schedulers/types.js';
import type { SessionRecord, SessionService } from '../sessions/types.js';
import type { AgentPrompter } from './agent-prompter.js';
import type { EventStream } from './event-stream.js';
import type { Route } from './router.js';
import { agentRoutes } from './routes-agent.js';
import { clusterRoutes } from './routes-clusters.js';
import { kernelspecRoutes } from './routes-kernelspecs.js';
import { leaseRoutes } from './routes-leases.js';
import { sessionRoutes } from './routes-sessions.js';
import type { SessionLeases } from './session-leases.js';
import type { TemplateCatalog } from './template-catalog.js';
import { uiLinkRoutes } from './routes-ui-links.js';
import type { UiLinks } from './ui-links.js';

/** The part of ClusterConnections the routes use (site info for forms and the site route). */
export interface AgentClusterSource {
  get(name: string): { readonly scheduler: Pick<Scheduler, 'siteInfo'> };
}

export interface RouteDeps {
  readonly sessions: SessionService;
  readonly config: LoadedConfig;
  readonly clusters: AgentClusterSource;
  readonly templates: TemplateCatalog;
  readonly prompter: AgentPrompter;
  readonly events: EventStream;
  /** Sessions tied to a client's life (kernel launchers). */
  readonly leases: SessionLeases;
  /** Capability links to web UIs (the JupyterLab panel's sandboxed frame). */
  readonly uiLinks: UiLinks;
  readonly version: string;
  /** Date.now() when the agent started. */
  readonly startedAt: number;
  /** Called after `POST /v1/shutdown` has been answered. */
  readonly requestShutdown: () => void;
}

export function apiRoutes(deps: RouteDeps): Route[] {
  return [
    ...agentRoutes(deps),
    ...clusterRoutes(deps),
    ...sessionRoutes(deps),
    ...leaseRoutes(deps),
    ...kernelspecRoutes(deps),
    ...uiLinkRoutes(deps),
  ];
}

/** The session, or NotFoundError naming the id. */
export function requireSession(sessions: SessionService, id: string): SessionRecord {
  const session = sessions.get(id);
  if (session === undefined) {
    throw new NotFoundError(`No session ${id}.`, {
      hint: 'List sessions with GET /v1/sessions (or `hpc-jupyter sessions`).',
    });
  }
  return session;
}

/**
 * Checks that a cluster is configured. A cluster whose entry is invalid answers with its config
 * problem (400: fix the file), an unknown name with NotFoundError.
 */
export function requireCluster(config: LoadedConfig, name: string): void {
  if (config.clusters.has(name)) return;
  const entry = `clusters.${name}`;
  const problem = config.problems.find(
    (p) => p.keyPath === entry || p.keyPath?.startsWith(`${entry}.`) === true,
  );
  if (problem !== undefined) throw problem;
  throw new NotFoundError(`No cluster named "${name}".`, {
    hint: `Known clusters: ${[...config.clusters.keys()].join(', ')}.`,
  });
}
