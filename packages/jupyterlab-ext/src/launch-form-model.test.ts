import { describe, expect, it } from 'vitest';
import { formFields, initialValues, maximumFor, validate } from './launch-form-model.js';
import { JUPYTER_FORM } from './fixtures.testutil.js';

describe('launch form model', () => {
  it('lists every parameter as a field, with defaults as starting text', () => {
    expect(formFields(JUPYTER_FORM).map((f) => f.name)).toEqual([
      'partition',
      'hours',
      'nodes',
      'email',
      'exclusive',
    ]);
    expect(initialValues(JUPYTER_FORM)).toEqual({
      partition: 'debug',
      hours: '1',
      nodes: '1',
      email: '',
      exclusive: '',
    });
    expect(initialValues(JUPYTER_FORM, { nodes: 3 }).nodes).toBe('3');
  });

  it('sends typed values for filled fields only', () => {
    const { params, errors } = validate(JUPYTER_FORM, {
      ...initialValues(JUPYTER_FORM),
      hours: '1.5',
      exclusive: 'true',
    });
    expect(errors).toEqual({});
    expect(params).toEqual({ partition: 'debug', hours: 1.5, nodes: 1, exclusive: true });
  });

  it('applies the chosen partition’s node limit', () => {
    const raw = { ...initialValues(JUPYTER_FORM), nodes: '9' };
    expect(maximumFor(JUPYTER_FORM, 'nodes', raw)).toBe(4);
    expect(validate(JUPYTER_FORM, raw).errors).toEqual({
      nodes: 'Nodes can be at most 4 on partition debug.',
    });
    // The schema's own maximum still applies on a bigger partition.
    expect(maximumFor(JUPYTER_FORM, 'nodes', { ...raw, partition: 'big' })).toBe(4);
  });

  it('rejects non-numeric and fractional numbers, and values below the minimum', () => {
    const base = initialValues(JUPYTER_FORM);
    expect(validate(JUPYTER_FORM, { ...base, hours: 'two' }).errors['hours']).toBe(
      'Hours must be a number.',
    );
    expect(validate(JUPYTER_FORM, { ...base, hours: '1h' }).errors['hours']).toBe(
      'Hours must be a number.',
    );
    expect(validate(JUPYTER_FORM, { ...base, nodes: '1.5' }).errors['nodes']).toBe(
      'Nodes must be a whole number.',
    );
    expect(validate(JUPYTER_FORM, { ...base, hours: '0' }).errors['hours']).toBe(
      'Hours must be at least 0.1.',
    );
  });

  it('checks choices and patterns of strings', () => {
    const base = initialValues(JUPYTER_FORM);
    expect(validate(JUPYTER_FORM, { ...base, partition: 'gpu' }).errors['partition']).toBe(
      'Choose one of: debug, big.',
    );
    expect(validate(JUPYTER_FORM, { ...base, email: 'nobody' }).errors['email']).toBe(
      'E-mail must be an e-mail address.',
    );
    expect(validate(JUPYTER_FORM, { ...base, email: 'a@b.org' }).params['email']).toBe('a@b.org');
  });
});
