import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError, InvalidParametersError } from '../errors.js';
import type { SiteInfo } from '../schedulers/types.js';
import { BUILTIN_TEMPLATES_DIR, loadTemplates, validateParams, type Template } from './index.js';

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

function problems(values: Record<string, unknown>, info?: SiteInfo): Record<string, string> {
  try {
    validateParams(jupyter, values, info);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidParametersError);
    expect(error).toBeInstanceOf(InvalidInputError);
    const e = error as InvalidParametersError;
    expect(e.template).toBe('jupyter');
    return Object.fromEntries(e.problems.map((p) => [p.param, p.message]));
  }
  throw new Error('expected validation to fail');
}

describe('validateParams', () => {
  it('applies defaults and leaves unset optional parameters out', () => {
    expect(validateParams(jupyter, {})).toEqual({
      nodes: 1,
      hours: 1,
      cpusPerTask: 2,
      gpusPerNode: 0,
      workingDirectory: '',
    });
  });

  it('coerces CLI strings and takes site defaults', () => {
    const values = validateParams(
      jupyter,
      { nodes: '4', hours: '1.5', memoryGiB: ' 64 ', qos: 'long', partition: '' },
      site,
    );
    expect(values).toMatchObject({
      nodes: 4,
      hours: 1.5,
      memoryGiB: 64,
      qos: 'long',
      partition: 'batch',
      account: 'phys202',
    });
  });

  it('is idempotent on its own output', () => {
    const once = validateParams(jupyter, { nodes: '3', email: 'a@example.org' }, site);
    expect(validateParams(jupyter, once, site)).toEqual(once);
  });

  it('reports every bad field at once, saying what is allowed', () => {
    const found = problems(
      {
        partition: 'debug',
        nodes: 8,
        hours: 'abc',
        account: 'bio303',
        qos: 'urgent',
        cpusPerTask: '2.5',
        email: 'alice@example.org; rm -rf ~',
        colour: 'blue',
      },
      site,
    );
    expect(found['colour']).toMatch(
      /^colour is not a parameter of jupyter; its parameters are: partition, account/,
    );
    delete found['colour'];
    expect(found).toEqual({
      nodes: "nodes must be at most 2 on partition 'debug', got 8",
      hours: "hours must be a number, got 'abc'",
      account: "account 'bio303' is not an account you may charge; yours: chem101, phys202",
      qos: "qos 'urgent' is not a QOS you may use; yours: normal, long",
      cpusPerTask: "cpusPerTask must be a whole number, got '2.5'",
      email:
        "email must be an e-mail address such as name@example.org, got 'alice@example.org; rm -rf ~'",
    });
  });

  it('rejects an unknown partition and checks the chosen partition limits', () => {
    expect(problems({ partition: 'huge' }, site)).toEqual({
      partition:
        "partition 'huge' is not a partition you may use here; choose one of: batch, debug, gpu",
    });
    expect(problems({ partition: 'retired' }, site)['partition']).toMatch(/not a partition/);
    expect(problems({ partition: 'gpu', gpusPerNode: 5, hours: 30 }, site)).toEqual({
      gpusPerNode: "gpusPerNode must be at most 4 on partition 'gpu', got 5",
      hours: "hours must be at most 24 on partition 'gpu', got 30",
    });
    // The default partition (batch) applies when none is given.
    expect(problems({ nodes: 17 }, site)).toEqual({
      nodes: "nodes must be at most 16 on partition 'batch', got 17",
    });
  });

  it('compares walltime as it will be rounded, and lowers defaults to the partition', () => {
    const values = validateParams(jupyter, { partition: 'debug' }, site);
    expect(values['hours']).toBe(0.5);
    expect(validateParams(jupyter, { partition: 'debug', hours: 0.504 }, site)['hours']).toBe(
      0.504,
    );
    expect(problems({ partition: 'debug', hours: 0.51 }, site)['hours']).toMatch(/at most 0.5/);
  });

  it('without site info accepts any well-formed site names', () => {
    expect(validateParams(jupyter, { partition: 'anything', account: 'x.y-z' })).toMatchObject({
      partition: 'anything',
      account: 'x.y-z',
    });
    expect(problems({ partition: 'a b', nodes: 0, hours: -1 })).toEqual({
      partition: "partition must be a partition name (letters, digits and _ . + -), got 'a b'",
      nodes: 'nodes must be at least 1, got 0',
      hours: 'hours must be at least 0.1, got -1',
    });
  });

  it('accepts hostile free text as data (it only ever reaches the env file)', () => {
    const hostile = 'it\'s; $(touch /tmp/pwned)\n`id` "x" \\ ~';
    expect(validateParams(jupyter, { workingDirectory: hostile })['workingDirectory']).toBe(
      hostile,
    );
    expect(problems({ workingDirectory: 'a\0b' })).toEqual({
      workingDirectory: 'workingDirectory must not contain a NUL character',
    });
  });

  it('rejects values of the wrong shape', () => {
    expect(problems({ nodes: [1], hours: { h: 1 }, workingDirectory: true })).toEqual({
      nodes: 'nodes must be a whole number, got a list',
      hours: 'hours must be a number, got a mapping',
      workingDirectory: 'workingDirectory must be text, got true',
    });
  });
});
