// The guard on its own: which browser requests it refuses, with which status, and that the
// requests of the agent's own clients (no Origin, no Sec-Fetch-*, the header) pass.
import { describe, expect, it } from 'vitest';
import { refusal, RequestRefusedError } from './request-guard.js';

const OWN = { 'x-hpc-jupyter': '1', 'content-type': 'application/json', 'content-length': '2' };
const LAB = { host: '127.0.0.1:8888', 'x-forwarded-context': '/hpc-jupyter' };

describe('refusal', () => {
  it("lets the agent's own clients through", () => {
    expect(refusal('POST', OWN, 'api')).toBeUndefined();
    expect(refusal('GET', { host: 'localhost' }, 'api')).toBeUndefined();
    expect(refusal('DELETE', { 'x-hpc-jupyter': '1' }, 'api')).toBeUndefined();
    // The sidebar: same-origin fetches, with or without Origin.
    const sidebar = { ...LAB, ...OWN, 'sec-fetch-site': 'same-origin' };
    expect(refusal('POST', { ...sidebar, origin: 'http://127.0.0.1:8888' }, 'api')).toBeUndefined();
    expect(refusal('GET', { ...LAB, 'sec-fetch-site': 'same-origin' }, 'api')).toBeUndefined();
    // A typed-in URL of a proxied web UI, and a same-origin iframe of the dashboard panel.
    expect(refusal('GET', { ...LAB, 'sec-fetch-site': 'none' }, 'proxy')).toBeUndefined();
    const frame = { ...LAB, 'sec-fetch-site': 'same-origin', 'sec-fetch-dest': 'iframe' };
    expect(refusal('GET', frame, 'proxy')).toBeUndefined();
    // A web UI's own form POST needs no header, only the same origin.
    const form = { ...LAB, origin: 'http://127.0.0.1:8888', 'content-type': 'text/plain' };
    expect(refusal('POST', form, 'proxy')).toBeUndefined();
  });

  it('refuses cross-site and same-site requests, GETs included', () => {
    for (const site of ['cross-site', 'same-site', 'Same-Site']) {
      for (const path of ['api', 'proxy'] as const) {
        const r = refusal('GET', { ...LAB, 'sec-fetch-site': site }, path);
        expect(r).toBeInstanceOf(RequestRefusedError);
        expect(r?.status).toBe(403);
        expect(r?.message).toMatch(/same-site|cross-site/);
      }
    }
  });

  it('refuses an Origin that is not the host the browser addressed', () => {
    for (const origin of [
      'http://127.0.0.1:9999',
      'http://evil.example',
      'null',
      'file://',
      'not a url',
    ]) {
      const r = refusal('POST', { ...LAB, ...OWN, origin }, 'api');
      expect(r?.status, origin).toBe(403);
      expect(r?.message).toMatch(/origin/);
    }
    // Behind a reverse proxy the browser's host is X-Forwarded-Host; default ports compare equal.
    const behind = { host: '127.0.0.1:8888', 'x-forwarded-host': 'lab.example.org' };
    expect(
      refusal('POST', { ...behind, ...OWN, origin: 'https://lab.example.org' }, 'api'),
    ).toBeUndefined();
    const port80 = { host: 'lab.example.org:80', ...OWN, origin: 'http://lab.example.org' };
    expect(refusal('POST', port80, 'api')).toBeUndefined();
  });

  it('refuses CORS preflights', () => {
    const preflight = {
      ...LAB,
      origin: 'http://127.0.0.1:8888',
      'access-control-request-method': 'POST',
    };
    for (const path of ['api', 'proxy'] as const) {
      expect(refusal('OPTIONS', preflight, path)?.message).toMatch(/preflight/);
    }
  });

  it('refuses a state change without the header, and a body that is not JSON', () => {
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      const r = refusal(method, { 'content-type': 'application/json' }, 'api');
      expect(r?.status).toBe(403);
      expect(r?.message).toMatch(/X-HPC-Jupyter: 1/);
      expect(refusal(method, { ...OWN, 'x-hpc-jupyter': 'yes' }, 'api')?.status).toBe(403);
    }
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data']) {
      const r = refusal('POST', { ...OWN, 'content-type': type }, 'api');
      expect(r?.status, type).toBe(415);
      expect(r?.message).toContain(type);
    }
    // A body with no type at all, chunked or not.
    expect(refusal('POST', { 'x-hpc-jupyter': '1', 'content-length': '5' }, 'api')?.status).toBe(
      415,
    );
    expect(
      refusal('POST', { 'x-hpc-jupyter': '1', 'transfer-encoding': 'chunked' }, 'api')?.status,
    ).toBe(415);
    expect(
      refusal('POST', { ...OWN, 'content-type': 'Application/JSON; charset=utf-8' }, 'api'),
    ).toBeUndefined();
    // A body-less POST relayed by jupyter-server-proxy, whose client labels it a form.
    const relayed = {
      ...LAB,
      'x-hpc-jupyter': '1',
      'content-type': 'application/x-www-form-urlencoded',
      'content-length': '0',
    };
    expect(refusal('POST', relayed, 'api')).toBeUndefined();
  });
});
