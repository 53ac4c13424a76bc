import { beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_TEMPLATES_DIR, loadTemplates, type Template } from './index.js';
import { kernelTemplateFor, kernelTemplateNames } from './kernel-template.js';

let templates: Map<string, Template>;
beforeAll(async () => {
  templates = await loadTemplates(BUILTIN_TEMPLATES_DIR);
});

describe('kernelTemplateFor', () => {
  it('gives a kernel template as is, and for an engine the kernel composed with it', () => {
    expect(kernelTemplateFor(templates, 'kernel')?.name).toBe('kernel');
    expect(kernelTemplateFor(templates, 'spark-kernel')?.name).toBe('spark-kernel');
    expect(kernelTemplateFor(templates, 'spark')?.name).toBe('spark-kernel');
  });

  it('gives nothing for a server, an engine no kernel composes, or an unknown name', () => {
    expect(kernelTemplateFor(templates, 'jupyter')).toBeUndefined();
    expect(kernelTemplateFor(templates, 'dask-workers')).toBeUndefined();
    expect(kernelTemplateFor(templates, 'nope')).toBeUndefined();
  });

  it('lists what a kernel profile may name', () => {
    expect(kernelTemplateNames(templates)).toEqual(
      expect.arrayContaining(['kernel', 'spark', 'spark-kernel']),
    );
    expect(kernelTemplateNames(templates)).not.toContain('jupyter');
  });
});
