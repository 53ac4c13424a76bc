/** Routes about clusters and templates: the configured clusters, site info, launch forms. */
import { InvalidInputError } from '../errors.js';
import type {
  ClusterInfo,
  ClustersResponse,
  SessionsResponse,
  SiteResponse,
  TemplateFormResponse,
  TemplatesResponse,
} from './api-types.js';
import type { Route } from './router.js';
import { requireCluster, type RouteDeps } from './routes.js';

export function clusterRoutes(deps: RouteDeps): Route[] {
  return [
    {
      method: 'GET',
      path: '/v1/clusters',
      handle: () => {
        const clusters: ClusterInfo[] = [...deps.config.clusters.values()].map((c) => ({
          name: c.name,
          ...(c.title === undefined ? {} : { title: c.title }),
          scheduler: c.scheduler,
          ...(c.ssh === undefined ? {} : { host: c.ssh.host }),
          source: c.source,
        }));
        const body: ClustersResponse = {
          clusters,
          problems: deps.config.problems.map((p) => ({
            message: p.message,
            file: p.file,
            ...(p.line === undefined ? {} : { line: p.line }),
            ...(p.keyPath === undefined ? {} : { keyPath: p.keyPath }),
          })),
        };
        return { body };
      },
    },
    {
      method: 'GET',
      path: '/v1/clusters/{name}/site',
      handle: async ({ params, signal }) => {
        const name = params['name'] ?? '';
        requireCluster(deps.config, name);
        const body: SiteResponse = await deps.clusters.get(name).scheduler.siteInfo({ signal });
        return { body };
      },
    },
    {
      method: 'POST',
      path: '/v1/clusters/{name}/discover',
      handle: async ({ params, signal }) => {
        const name = params['name'] ?? '';
        requireCluster(deps.config, name);
        const body: SessionsResponse = {
          sessions: await deps.sessions.discover(name, { signal }),
        };
        return { body };
      },
    },
    {
      method: 'GET',
      path: '/v1/templates',
      handle: async ({ signal }) => {
        const body: TemplatesResponse = { templates: await deps.templates.list({ signal }) };
        return { body };
      },
    },
    {
      method: 'GET',
      path: '/v1/templates/{name}/form',
      handle: async ({ params, query, signal }) => {
        const cluster = query.get('cluster');
        if (cluster === null || cluster === '') {
          throw new InvalidInputError('Which cluster is the form for? Add ?cluster=NAME.');
        }
        requireCluster(deps.config, cluster);
        const body: TemplateFormResponse = await deps.templates.form(
          params['name'] ?? '',
          cluster,
          {
            signal,
          },
        );
        return { body };
      },
    },
  ];
}
