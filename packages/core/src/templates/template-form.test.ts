import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SiteInfo } from '../schedulers/types.js';
import { BUILTIN_TEMPLATES_DIR, loadTemplates, templateForm, type Template } from './index.js';

const site = JSON.parse(
  readFileSync(new URL('./__fixtures__/site-info.json', import.meta.url), 'utf8'),
) as SiteInfo;

let jupyter: Template;
beforeAll(async () => {
  const templates = await loadTemplates(BUILTIN_TEMPLATES_DIR);
  const found = templates.get('jupyter');
  if (found === undefined) throw new Error('jupyter template missing');
  jupyter = found;
});

describe('templateForm', () => {
  it('without site info is the template schema as is', () => {
    const form = templateForm(jupyter);
    expect(form.schema).toEqual(jupyter.parameters);
    expect(form.partitionParam).toBe('partition');
    expect(form.partitionLimits).toEqual({});
    expect(form.schema.properties['partition']?.enum).toBeUndefined();
  });

  it('fills partitions, accounts and QOS the user may use, with site defaults', () => {
    const { schema } = templateForm(jupyter, site);
    const props = schema.properties;
    // "retired" is not available: a job there would never start.
    expect(props['partition']?.enum).toEqual(['batch', 'debug', 'gpu']);
    expect(props['partition']?.default).toBe('batch');
    expect(props['account']?.enum).toEqual(['chem101', 'phys202']);
    expect(props['account']?.default).toBe('phys202');
    expect(props['qos']?.enum).toEqual(['normal', 'long']);
    expect(props['qos']?.default).toBeUndefined();
    // Parameters without x-options are untouched.
    expect(props['workingDirectory']).toEqual(jupyter.parameters.properties['workingDirectory']);
  });

  it('keeps free text when the site has no accounts or QOS', () => {
    const { schema } = templateForm(jupyter, { ...site, accounts: [], qos: [] });
    expect(schema.properties['account']?.enum).toBeUndefined();
    expect(schema.properties['qos']?.enum).toBeUndefined();
    expect(schema.properties['account']?.pattern).toBeDefined();
  });

  it('gives per-partition limits in parameter units', () => {
    const form = templateForm(jupyter, site);
    expect(form.partitionLimits['debug']).toEqual({
      nodes: { maximum: 2 },
      hours: { maximum: 0.5 },
      cpusPerTask: { maximum: 8 },
      memoryGiB: { maximum: 31 },
    });
    // No maxNodes: the partition's size limits nodes; GPUs come from the partition.
    expect(form.partitionLimits['gpu']).toMatchObject({
      nodes: { maximum: 8 },
      hours: { maximum: 24 },
      gpusPerNode: { maximum: 4 },
    });
    expect(form.partitionLimits['retired']).toBeUndefined();
  });

  it("applies the default partition's limits to the schema", () => {
    const { schema } = templateForm(jupyter, site);
    expect(schema.properties['nodes']?.maximum).toBe(16);
    expect(schema.properties['hours']?.maximum).toBe(48);
    expect(schema.properties['memoryGiB']?.maximum).toBe(187);
  });

  it('lowers defaults above the default partition limits', () => {
    const debugFirst: SiteInfo = {
      ...site,
      partitions: site.partitions.map((p) => ({ ...p, isDefault: p.name === 'debug' })),
    };
    const { schema } = templateForm(jupyter, debugFirst);
    expect(schema.properties['partition']?.default).toBe('debug');
    expect(schema.properties['hours']).toMatchObject({ maximum: 0.5, default: 0.5 });
    expect(schema.properties['nodes']).toMatchObject({ maximum: 2, default: 1 });
  });
});
