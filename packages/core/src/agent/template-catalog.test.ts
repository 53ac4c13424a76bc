import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../errors.js';
import type { SiteInfo } from '../schedulers/types.js';
import { BUILTIN_TEMPLATES_DIR } from '../templates/index.js';
import { loadTemplates } from '../templates/template-loader.js';
import { createTemplateCatalog } from './template-catalog.js';

const SITE: SiteInfo = {
  partitions: [
    { name: 'debug', isDefault: true, available: true, maxNodes: 2 },
    { name: 'down', isDefault: false, available: false },
  ],
  accounts: ['proj1', 'proj2'],
  qos: [],
  user: 'ada',
};

describe('createTemplateCatalog', () => {
  it('lists the built-in templates and fills forms with the cluster choices', async () => {
    const asked: string[] = [];
    const catalog = createTemplateCatalog({
      load: () => loadTemplates(BUILTIN_TEMPLATES_DIR),
      siteInfo: (cluster) => {
        asked.push(cluster);
        return Promise.resolve(SITE);
      },
    });
    const list = await catalog.list();
    expect(list.map((t) => t.name)).toContain('jupyter');
    expect(list.find((t) => t.name === 'jupyter')).toMatchObject({ kind: 'server' });
    const form = await catalog.form('jupyter', 'hpc');
    expect(asked).toEqual(['hpc']);
    expect(form.schema.properties['partition']?.enum).toEqual(['debug']);
    expect(form.schema.properties['account']?.enum).toEqual(['proj1', 'proj2']);
    await expect(catalog.form('nope', 'hpc')).rejects.toThrow(NotFoundError);
  });

  it('loads once, and again after a failed load', async () => {
    let loads = 0;
    const catalog = createTemplateCatalog({
      load: async () => {
        loads++;
        if (loads === 1) throw new Error('templates directory missing');
        return loadTemplates(BUILTIN_TEMPLATES_DIR);
      },
      siteInfo: () => Promise.resolve(undefined),
    });
    await expect(catalog.list()).rejects.toThrow(/missing/);
    await catalog.list();
    await catalog.form('jupyter', 'local');
    expect(loads).toBe(2);
  });
});
