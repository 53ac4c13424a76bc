// At most one line per kind a while, the ones left out counted, and a bounded memory of kinds.
import { describe, expect, it } from 'vitest';
import { LogLimiter } from './log-limiter.js';

describe('LogLimiter', () => {
  it('logs a kind once per interval, then says how many it left out', () => {
    const lines: string[] = [];
    let now = 0;
    const limiter = new LogLimiter(
      (l) => lines.push(l),
      1000,
      () => now,
    );
    limiter.line('sig', 'bad signature');
    limiter.line('sig', 'bad signature');
    limiter.line('sig', 'bad signature');
    limiter.line('size', 'too big');
    expect(lines).toEqual(['bad signature', 'too big']);
    now = 999;
    limiter.line('sig', 'bad signature');
    expect(lines).toHaveLength(2);
    now = 1000;
    limiter.line('sig', 'bad signature');
    expect(lines.at(-1)).toBe('bad signature (3 more like it)');
  });

  it('remembers at most 64 kinds, so many kinds cannot grow it', () => {
    const lines: string[] = [];
    const limiter = new LogLimiter(
      (l) => lines.push(l),
      1000,
      () => 0,
    );
    for (let i = 0; i < 65; i++) limiter.line(`k${i}`, `line ${i}`);
    // k0 was the one forgotten: it is logged again; k64 is still remembered.
    limiter.line('k0', 'again');
    limiter.line('k64', 'not again');
    expect(lines.at(-1)).toBe('again');
    expect(lines).toHaveLength(66);
  });
});
