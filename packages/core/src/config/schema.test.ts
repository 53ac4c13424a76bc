import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { closest, editDistance } from './messages.js';
import { CLUSTERS_SCHEMA_PATH, clustersSchema, compileSchema } from './schema.js';

type Json = Record<string, unknown>;

function definitions(): Json {
  return clustersSchema()['definitions'] as Json;
}

/** Every (sub)schema that has `properties`, with its path, following $refs one level. */
function objectSchemas(): [string, Json][] {
  const top = clustersSchema();
  const found: [string, Json][] = [['(top)', top]];
  for (const [name, schema] of Object.entries(definitions())) {
    if ((schema as Json)['properties'] !== undefined) found.push([name, schema as Json]);
  }
  return found;
}

describe('clusters.schema.json', () => {
  it('is valid JSON that ajv compiles in strict mode', () => {
    const schema = JSON.parse(readFileSync(CLUSTERS_SCHEMA_PATH, 'utf8')) as Json;
    expect(schema['$schema']).toBe('http://json-schema.org/draft-07/schema#');
    const validate = compileSchema(schema);
    expect(validate({ clusters: { a: { scheduler: 'local' } } })).toBe(true);
    expect(validate({ clusters: { a: { scheduler: 'local', extra: 1 } } })).toBe(false);
  });

  it('gives every property a title and a description, and closes every object', () => {
    for (const [where, schema] of objectSchemas()) {
      expect(schema['additionalProperties'], where).toBeDefined();
      for (const [key, prop] of Object.entries(schema['properties'] as Json)) {
        const p = prop as Json;
        expect(typeof p['title'], `${where}.${key} title`).toBe('string');
        expect(typeof p['description'], `${where}.${key} description`).toBe('string');
      }
    }
    for (const [name, def] of Object.entries(definitions())) {
      expect(typeof (def as Json)['title'], `${name} title`).toBe('string');
      expect(typeof (def as Json)['description'], `${name} description`).toBe('string');
    }
  });

  it('closes objects with additionalProperties: false', () => {
    for (const name of ['cluster', 'ssh', 'defaults', 'profile']) {
      expect((definitions()[name] as Json)['additionalProperties'], name).toBe(false);
    }
    expect(clustersSchema()['additionalProperties']).toBe(false);
  });

  it('lists the documented keys', () => {
    const keys = (name: string) => Object.keys((definitions()[name] as Json)['properties'] as Json);
    expect(keys('cluster').sort()).toEqual(
      [
        'defaults',
        'pbsFlavor',
        'prologue',
        'python',
        'scheduler',
        'ssh',
        'title',
        'workdir',
      ].sort(),
    );
    expect(keys('ssh').sort()).toEqual(
      [
        'configFile',
        'host',
        'identityFile',
        'keepaliveSeconds',
        'knownHostsFile',
        'port',
        'proxyJump',
        'user',
      ].sort(),
    );
    expect(keys('defaults').sort()).toEqual(['account', 'partition', 'qos']);
    expect(keys('profile').sort()).toEqual(['cluster', 'displayName', 'params', 'template']);
  });
});

describe('did-you-mean', () => {
  it('counts an adjacent swap as one edit', () => {
    expect(editDistance('slrum', 'slurm')).toBe(1);
    expect(editDistance('partiton', 'partition')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });

  it('suggests only close candidates, ignoring case', () => {
    expect(closest('identityfile', ['identityFile', 'host'])).toBe('identityFile');
    expect(closest('colour', ['scheduler', 'title'])).toBeUndefined();
    expect(closest('ab', ['xy'])).toBeUndefined();
  });
});
