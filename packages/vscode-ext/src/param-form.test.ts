import { describe, expect, it } from 'vitest';
import type { ParameterDefinition } from '@hpc-jupyter/core';
import {
  checkValue,
  effectiveSchema,
  formatValue,
  initialValues,
  parseInput,
  summarizeValues,
  validateValues,
} from './param-form';
import { jupyterForm } from './test-agent.testutil';

const hours: ParameterDefinition = {
  type: 'number',
  title: 'Hours',
  description: '',
  minimum: 0.1,
  maximum: 8,
};
const nodes: ParameterDefinition = {
  type: 'integer',
  title: 'Nodes',
  description: '',
  minimum: 1,
  maximum: 4,
};

describe('param-form', () => {
  it('starts from the defaults, with a profile on top', () => {
    const form = jupyterForm('lab');
    expect(initialValues(form)).toEqual({ partition: 'debug', hours: 1, nodes: 1 });
    expect(initialValues(form, { nodes: 2, email: 'a@b.c' })).toEqual({
      partition: 'debug',
      hours: 1,
      nodes: 2,
      email: 'a@b.c',
    });
  });

  it('applies the limits of the chosen partition', () => {
    const form = jupyterForm('lab');
    expect(effectiveSchema(form, { partition: 'short' }).properties['hours']?.maximum).toBe(0.5);
    expect(effectiveSchema(form, { partition: 'debug' }).properties['hours']?.maximum).toBe(8);
    expect(effectiveSchema(form, {}).properties['hours']?.maximum).toBe(8);
  });

  it('parses typed values by type, empty as not set', () => {
    expect(parseInput(nodes, ' 3 ', false)).toEqual({ ok: true, value: 3 });
    expect(parseInput(nodes, '2.5', false)).toEqual({
      ok: false,
      message: 'Nodes must be a whole number.',
    });
    expect(parseInput(nodes, '9', false)).toEqual({
      ok: false,
      message: 'Nodes must be at most 4.',
    });
    expect(parseInput(hours, '1.5', false)).toEqual({ ok: true, value: 1.5 });
    expect(parseInput(hours, 'soon', false)).toEqual({
      ok: false,
      message: 'Hours must be a number.',
    });
    expect(parseInput(hours, '', false)).toEqual({ ok: true, value: undefined });
    expect(parseInput(hours, '', true)).toEqual({ ok: false, message: 'Hours is required.' });
    const flag: ParameterDefinition = { type: 'boolean', title: 'Flag', description: '' };
    expect(parseInput(flag, 'yes', false)).toEqual({ ok: true, value: true });
    expect(parseInput(flag, 'maybe', false)).toMatchObject({ ok: false });
  });

  it('checks patterns, lengths and choices with words from the schema', () => {
    const email = jupyterForm('lab').schema.properties['email'];
    if (email === undefined) throw new Error('no email');
    expect(checkValue(email, 'not-an-address')).toBe(
      'E-mail when started must be an e-mail address.',
    );
    expect(checkValue(email, 'ada@example.org')).toBeUndefined();
    const partition = jupyterForm('lab').schema.properties['partition'];
    if (partition === undefined) throw new Error('no partition');
    expect(checkValue(partition, 'gpu')).toBe('Partition must be one of: debug, short.');
    const short: ParameterDefinition = {
      type: 'string',
      title: 'Name',
      description: '',
      maxLength: 3,
    };
    expect(checkValue(short, 'abcd')).toBe('Name must have at most 3 characters.');
  });

  it('validates all values at once, required ones included', () => {
    const form = jupyterForm('lab');
    const schema = { ...form.schema, required: ['nodes'] };
    expect(validateValues(schema, { hours: 20 })).toEqual([
      { param: 'hours', message: 'Hours must be at most 8.' },
      { param: 'nodes', message: 'Nodes is required.' },
    ]);
    expect(
      validateValues(effectiveSchema(form, { partition: 'short' }), {
        partition: 'short',
        hours: 1,
      }),
    ).toEqual([{ param: 'hours', message: 'Hours must be at most 0.5.' }]);
  });

  it('formats values and summaries', () => {
    const form = jupyterForm('lab');
    expect(formatValue(hours, undefined)).toBe('not set');
    expect(formatValue({ type: 'boolean', title: 'F', description: '' }, false)).toBe('no');
    expect(summarizeValues(form.schema, { partition: 'debug', hours: 2, email: '' })).toBe(
      'partition debug, hours 2',
    );
  });
});
