import { describe, expect, it } from 'vitest';

import { AbortedError, TimeoutError } from '../errors.js';
import { SessionLimiter } from './ssh-session-limit.js';

describe('SessionLimiter', () => {
  it('never lets more than the limit run, and serves waiters in order', async () => {
    const limiter = new SessionLimiter(3);
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const release = await limiter.acquire();
        order.push(i);
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        release();
      }),
    );
    expect(peak).toBe(3);
    expect(order).toEqual([...Array(12).keys()]);
    expect(limiter.active).toBe(0);
  });

  it('ignores a second release of the same slot', async () => {
    const limiter = new SessionLimiter(1);
    const release = await limiter.acquire();
    release();
    release();
    expect(limiter.active).toBe(0);
    await limiter.acquire();
    expect(limiter.active).toBe(1);
  });

  it('drops an aborted waiter with the signal’s typed reason', async () => {
    const limiter = new SessionLimiter(1);
    const release = await limiter.acquire();
    const controller = new AbortController();
    const waiting = limiter.acquire(controller.signal);
    controller.abort(new TimeoutError('too slow'));
    await expect(waiting).rejects.toBeInstanceOf(TimeoutError);
    expect(limiter.queued).toBe(0);
    const plain = new AbortController();
    plain.abort();
    await expect(limiter.acquire(plain.signal)).rejects.toBeInstanceOf(AbortedError);
    release();
    expect(limiter.active).toBe(0);
  });

  it('lowers the limit but not below one', async () => {
    const limiter = new SessionLimiter(8);
    limiter.lower(2);
    expect(limiter.limit).toBe(2);
    limiter.lower(0);
    expect(limiter.limit).toBe(1);
    limiter.lower(5);
    expect(limiter.limit).toBe(1);
    await limiter.acquire();
    let second = false;
    void limiter.acquire().then(() => (second = true));
    await new Promise((r) => setTimeout(r, 5));
    expect(second).toBe(false);
  });

  it('rejects everything waiting on rejectAll', async () => {
    const limiter = new SessionLimiter(1);
    await limiter.acquire();
    const waiting = limiter.acquire();
    limiter.rejectAll(new AbortedError('closed'));
    await expect(waiting).rejects.toThrow('closed');
  });

  it('refuses a nonsensical limit', () => {
    expect(() => new SessionLimiter(0)).toThrow(RangeError);
  });
});
