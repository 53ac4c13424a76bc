// The sidebar's calls for the dashboard panel's capability links: minted with an authenticated
// POST (the client header), revoked with the link in the body (never in a path the agent logs),
// and opened on the Jupyter server's own link route, not the agent's proxy route.
import { describe, expect, it } from 'vitest';
import { AgentApi, CLIENT_HEADER, type FetchLike } from './agent-api.js';

const LINK = 'A'.repeat(40) + '_-9';

function recording(body: unknown, calls: { url: string; init: RequestInit }[]): FetchLike {
  return (url, init) => {
    calls.push({ url, init });
    return Promise.resolve(new Response(JSON.stringify(body), { status: 201 }));
  };
}

describe('AgentApi UI links', () => {
  it('mints a link with the client header, and revokes it by body', async () => {
    const calls: { url: string; init: RequestInit }[] = [];
    const api = new AgentApi('/user/a/', recording({ link: LINK, idleSeconds: 1800 }, calls));
    await expect(api.uiLink('s1', 'dashboard')).resolves.toEqual({ link: LINK, idleSeconds: 1800 });
    await api.revokeUiLink(LINK);
    expect(calls.map((c) => [c.init.method, c.url])).toEqual([
      ['POST', '/user/a/hpc-jupyter/v1/sessions/s1/endpoints/dashboard/ui-link'],
      ['POST', '/user/a/hpc-jupyter/v1/ui-links/revoke'],
    ]);
    expect(new Headers(calls[0]?.init.headers).get(CLIENT_HEADER)).toBe('1');
    expect(calls[1]?.url).not.toContain(LINK);
    expect(JSON.parse(calls[1]?.init.body as string)).toEqual({ link: LINK });
  });

  it("opens a link on the Jupyter server's hpc-jupyter-ui route", () => {
    const api = new AgentApi('/user/a/', recording({}, []));
    expect(api.uiLinkUrl(LINK, '/status')).toBe(`/user/a/hpc-jupyter-ui/${LINK}/status`);
    expect(api.uiLinkUrl(LINK)).toBe(`/user/a/hpc-jupyter-ui/${LINK}/`);
  });
});
