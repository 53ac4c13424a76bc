/**
 * Routes that tie a session's life to a client's: a lease (an open request; when the session's
 * last lease closes the agent stops it after a grace period) and a hold (keep the session through
 * a lease gap, e.g. while a kernel restarts and the next launcher takes it over).
 */
import type { ServerResponse } from 'node:http';
import { InvalidInputError } from '../errors.js';
import type { HoldResponse, LeaseEvent } from './api-types.js';
import { isRecord } from './http-json.js';
import type { Route, RouteResult } from './router.js';
import { requireSession, type RouteDeps } from './routes.js';
import { DEFAULT_LEASE_GRACE_MS, type SessionLeases } from './session-leases.js';

/** How often an open lease says it is still there (keeps idle-closing proxies away). */
export const LEASE_PING_MS = 15_000;
export const MAX_GRACE_SECONDS = 3600;

export function leaseRoutes(deps: RouteDeps): Route[] {
  const { sessions, leases } = deps;
  return [
    {
      method: 'POST',
      path: '/v1/sessions/{id}/lease',
      handle: async ({ params, body, res }): Promise<RouteResult> => {
        const id = params['id'] ?? '';
        requireSession(sessions, id);
        const graceSeconds = seconds(await body(), 'graceSeconds', DEFAULT_LEASE_GRACE_MS / 1000);
        streamLease(res, leases, { type: 'lease', id, graceSeconds });
        return 'streaming';
      },
    },
    {
      method: 'POST',
      path: '/v1/sessions/{id}/hold',
      handle: async ({ params, body }) => {
        const id = params['id'] ?? '';
        requireSession(sessions, id);
        const held = seconds(await body(), 'seconds', undefined);
        const until = leases.hold(id, held * 1000);
        const answer: HoldResponse = { id, until: new Date(until).toISOString() };
        return { body: answer };
      },
    },
  ];
}

/**
 * Opens a lease on `first.id` held by `res`: answers 200 with `first`, pings, and releases the
 * lease when the response closes. Also for `POST /v1/sessions` with a lease (routes-sessions.ts).
 */
export function streamLease(
  res: ServerResponse,
  leases: SessionLeases,
  first: Extract<LeaseEvent, { type: 'lease' }>,
  options: { readonly status?: number; readonly signal?: AbortSignal } = {},
): void {
  const lease = leases.open(first.id, first.graceSeconds * 1000);
  const write = (event: LeaseEvent): void => {
    res.write(`${JSON.stringify(event)}\n`);
  };
  const ping = setInterval(() => {
    write({ type: 'ping' });
  }, LEASE_PING_MS);
  res.once('close', () => {
    clearInterval(ping);
    lease.release();
  });
  // The client went away while the session was being made: its lease ends at once, and the
  // session is stopped after the grace like any other whose client died.
  if (options.signal?.aborted === true || res.destroyed) {
    clearInterval(ping);
    lease.release();
    return;
  }
  res.writeHead(options.status ?? 200, {
    'content-type': 'application/x-ndjson; charset=utf-8',
    'cache-control': 'no-store',
  });
  res.socket?.setNoDelay(true);
  write(first);
}

/** `{ [field]: seconds }` checked; `fallback` when absent (undefined: required). */
export function seconds(value: unknown, field: string, fallback: number | undefined): number {
  const given = isRecord(value) ? value[field] : undefined;
  if (given === undefined && fallback !== undefined) return fallback;
  if (typeof given !== 'number' || !(given > 0) || given > MAX_GRACE_SECONDS) {
    throw new InvalidInputError(
      `"${field}" must be a number of seconds greater than 0 and at most ${MAX_GRACE_SECONDS}.`,
    );
  }
  return given;
}
