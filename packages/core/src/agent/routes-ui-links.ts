/**
 * Routes for capability links to a session's web UIs (see ui-links.ts): minting one for the
 * JupyterLab panel, and revoking it when the panel closes. The link travels only in JSON bodies,
 * never in a path the agent logs.
 */
import { InvalidInputError, NotFoundError, NotReadyError } from '../errors.js';
import { isFinal } from '../schedulers/types.js';
import { isRecord } from './http-json.js';
import type { Route } from './router.js';
import { requireSession, type RouteDeps } from './routes.js';

export function uiLinkRoutes(deps: RouteDeps): Route[] {
  const { sessions, uiLinks } = deps;
  return [
    {
      method: 'POST',
      path: '/v1/sessions/{id}/endpoints/{endpoint}/ui-link',
      handle: ({ params }) => {
        const id = params['id'] ?? '';
        const endpoint = params['endpoint'] ?? '';
        const session = requireSession(sessions, id);
        if (isFinal(session.state)) {
          throw new NotFoundError(`Session ${id} has ended (${session.state}).`);
        }
        if (session.state !== 'ready') {
          throw new NotReadyError(`Session ${id} is not ready yet (${session.state}).`, {
            hint: 'Wait for the session to become ready; the agent sends an event when it is.',
          });
        }
        const names = (session.connection?.endpoints ?? []).map((e) => e.name);
        // The Jupyter server has its own token and base URL: it is served under /sessions/.
        if (endpoint === 'jupyter' || !names.includes(endpoint)) {
          throw new NotFoundError(`Session ${id} has no web UI "${endpoint}".`, {
            hint: `Its endpoints: ${names.filter((n) => n !== 'jupyter').join(', ') || '(none)'}.`,
          });
        }
        const link = uiLinks.mint(id, endpoint);
        return {
          status: 201,
          body: { link, idleSeconds: uiLinks.idleSeconds },
        };
      },
    },
    {
      method: 'POST',
      path: '/v1/ui-links/revoke',
      handle: async ({ body }) => {
        const value = await body();
        const link = isRecord(value) ? value['link'] : undefined;
        if (typeof link !== 'string') {
          throw new InvalidInputError('The body must be {"link": "<a UI link>"}.');
        }
        return { body: { revoked: uiLinks.revoke(link) } };
      },
    },
  ];
}
