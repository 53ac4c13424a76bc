import { afterEach, describe, expect, it, vi } from 'vitest';
import { AgentApi } from './agent-api.js';
import { EventConnection, type EventSourceLike } from './event-connection.js';
import { HpcModel } from './hpc-model.js';
import { session } from './fixtures.testutil.js';

class FakeSource implements EventSourceLike {
  onerror: ((ev: Event) => void) | null = null;
  readyState = 1;
  closed = false;
  readonly listeners = new Map<string, (ev: MessageEvent<string>) => void>();
  constructor(readonly url: string) {}
  addEventListener(type: string, listener: (ev: MessageEvent<string>) => void): void {
    this.listeners.set(type, listener);
  }
  close(): void {
    this.closed = true;
  }
  emit(type: string, data: unknown): void {
    this.listeners.get(type)?.({ data: JSON.stringify(data) } as MessageEvent<string>);
  }
}

function catalogFetch(): Promise<Response> {
  return Promise.resolve(
    new Response(JSON.stringify({ clusters: [], problems: [], templates: [] })),
  );
}

afterEach(() => {
  vi.useRealTimers();
});

describe('EventConnection', () => {
  it('opens one stream and feeds named events into the model', () => {
    const sources: FakeSource[] = [];
    const model = new HpcModel();
    const conn = new EventConnection(new AgentApi('/', catalogFetch), model, (url) => {
      const s = new FakeSource(url);
      sources.push(s);
      return s;
    });
    conn.start();
    expect(sources.map((s) => s.url)).toEqual(['/hpc-jupyter/v1/events']);
    sources[0]?.emit('snapshot', { type: 'snapshot', sessions: [session()], prompts: [] });
    sources[0]?.emit('session', { type: 'session', session: session({ state: 'ready' }) });
    expect(model.connection).toBe('live');
    expect(model.session('s0123456789ab')?.state).toBe('ready');
    conn.dispose();
    expect(sources[0]?.closed).toBe(true);
  });

  it('reconnects with backoff after the stream is closed by an HTTP error', () => {
    vi.useFakeTimers();
    const sources: FakeSource[] = [];
    const model = new HpcModel();
    const conn = new EventConnection(new AgentApi('/', catalogFetch), model, (url) => {
      const s = new FakeSource(url);
      sources.push(s);
      return s;
    });
    conn.start();
    const first = sources[0];
    if (first === undefined) throw new Error('no source');
    first.readyState = 2;
    first.onerror?.(new Event('error'));
    expect(model.connection).toBe('down');
    expect(first.closed).toBe(true);
    vi.advanceTimersByTime(999);
    expect(sources).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(sources).toHaveLength(2);
    conn.dispose();
  });
});
