// The shape checks of POST /v1/sessions: a kernel key the launcher passes is taken as it is,
// and anything a file or shell could mangle is refused.
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../errors.js';
import { parseSessionSpec } from './routes-sessions.js';

describe('parseSessionSpec', () => {
  it('keeps a kernel key, and refuses one with spaces, newlines or no characters', () => {
    const key = 'c0ffee00-1111-4222-8333-444455556666';
    expect(parseSessionSpec({ cluster: 'c', template: 'kernel', kernelKey: key })).toEqual({
      cluster: 'c',
      template: 'kernel',
      params: {},
      kernelKey: key,
    });
    for (const bad of ['', 'a b', 'a\nb', 7, 'x'.repeat(1025)]) {
      expect(() => parseSessionSpec({ cluster: 'c', template: 'kernel', kernelKey: bad })).toThrow(
        InvalidInputError,
      );
    }
  });
});
