/**
 * Keeps openapi/agent.yaml and the server in step: every route the server registers is in the
 * document and vice versa, every reference resolves, and real answers match their schemas.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { AGENT_EVENT_TYPES } from './api-types.js';
import { fakeRecord } from './fake-session-service.js';
import { startTestAgent, type TestAgent } from './agent-test-harness.js';

const DOC_URL = new URL('../../openapi/agent.yaml', import.meta.url);
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

interface OpenApiDoc {
  openapi: string;
  paths: Record<string, Record<string, unknown>>;
  components: { schemas: Record<string, unknown> };
}

const doc = parse(readFileSync(DOC_URL, 'utf8')) as OpenApiDoc;

let agent: TestAgent;
beforeAll(async () => {
  agent = await startTestAgent();
});
afterAll(async () => {
  await agent.close();
});

function documentedRoutes(): string[] {
  const out: string[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    if (!path.startsWith('/v1/')) continue;
    for (const method of Object.keys(item)) {
      if (METHODS.includes(method)) out.push(`${method.toUpperCase()} ${path}`);
    }
  }
  return out.sort();
}

function refs(value: unknown, found: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) refs(v, found);
  else if (typeof value === 'object' && value !== null) {
    for (const [key, v] of Object.entries(value)) {
      if (key === '$ref' && typeof v === 'string') found.push(v);
      else refs(v, found);
    }
  }
  return found;
}

function resolvePointer(pointer: string): unknown {
  let node: unknown = doc;
  for (const part of pointer.replace(/^#\//, '').split('/')) {
    node = (node as Record<string, unknown> | undefined)?.[part];
  }
  return node;
}

const ajv = new Ajv2020({
  strict: false,
  allErrors: true,
  formats: { 'date-time': (s: string) => !Number.isNaN(Date.parse(s)) },
});
ajv.addSchema(doc, 'agent.yaml');

function validator(schema: string): (value: unknown) => string | undefined {
  const validate = ajv.compile({ $ref: `agent.yaml#/components/schemas/${schema}` });
  return (value) => (validate(value) ? undefined : ajv.errorsText(validate.errors));
}

function getJson(path: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    http
      .get({ socketPath: agent.socketPath, path }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          resolve(JSON.parse(text));
        });
      })
      .on('error', reject);
  });
}

describe('openapi/agent.yaml', () => {
  it('is OpenAPI 3.1', () => {
    expect(doc.openapi).toBe('3.1.0');
  });

  it('describes exactly the routes the server registers', () => {
    const served = agent.server.router.routes.map((r) => `${r.method} ${r.path}`).sort();
    expect(served.length).toBeGreaterThan(15);
    expect(documentedRoutes()).toEqual(served);
  });

  it('describes the web proxy', () => {
    expect(Object.keys(doc.paths)).toContain('/sessions/{id}/{path}');
  });

  it('has no dangling references', () => {
    const dangling = refs(doc).filter((r) => resolvePointer(r) === undefined);
    expect(dangling).toEqual([]);
  });

  it('names every event type the stream sends', () => {
    const schema = doc.components.schemas['AgentStreamEvent'] as {
      oneOf: { properties: { type: { const: string } } }[];
    };
    expect(schema.oneOf.map((s) => s.properties.type.const).sort()).toEqual(
      [...AGENT_EVENT_TYPES].sort(),
    );
  });

  it('matches real answers of the server', async () => {
    agent.sessions.put(
      fakeRecord('s0123456789ab', {
        state: 'ready',
        jobId: '42',
        nodes: ['n1'],
        connection: { kind: 'jupyter', endpoints: [{ name: 'jupyter', host: 'n1', port: 8888 }] },
      }),
    );
    expect(validator('Health')(await agent.client.health())).toBeUndefined();
    expect(validator('Clusters')(await agent.client.clusters())).toBeUndefined();
    expect(validator('Sessions')(await getJson('/v1/sessions'))).toBeUndefined();
    expect(validator('SiteInfo')(await agent.client.site('local'))).toBeUndefined();
    expect(
      validator('TemplateForm')(await agent.client.templateForm('jupyter', 'local')),
    ).toBeUndefined();
    expect(validator('Access')(await agent.client.access('s0123456789ab'))).toBeUndefined();
    agent.sessions.put(
      fakeRecord('s0123456789cd', {
        template: 'dask',
        state: 'ready',
        connection: { kind: 'dask', endpoints: [{ name: 'scheduler', host: 'n1', port: 8786 }] },
      }),
    );
    expect(validator('Attach')(await agent.client.attach('s0123456789cd'))).toBeUndefined();
    expect(validator('Error')(await getJson('/v1/sessions/s000000000000'))).toBeUndefined();
    const controller = new AbortController();
    const snapshot = await new Promise((resolve) => {
      void agent.client.events(resolve, controller.signal);
    });
    controller.abort();
    expect(validator('AgentStreamEvent')(snapshot)).toBeUndefined();
    // The validator does reject what does not match.
    expect(validator('Health')({ version: 1 })).toBeDefined();
  });
});
