/**
 * JSON in and out for the agent's HTTP API: bounded request bodies, and one mapping from the
 * core's typed errors to status codes and the `{ error: { message, hint, kind } }` body, so every
 * route (and the web proxy) fails the same way.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import {
  AbortedError,
  CommandError,
  ConfigError,
  ConflictError,
  HpcError,
  InvalidInputError,
  InvalidParametersError,
  NotFoundError,
  NotReadyError,
  SchedulerError,
  SessionError,
  SessionNotFoundError,
  SshError,
  TimeoutError,
} from '../errors.js';
import type { ApiErrorBody } from './api-types.js';

/** Request bodies are small JSON documents; anything larger is a mistake or an attack. */
export const MAX_BODY_BYTES = 1024 * 1024;

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

/** The HTTP status for an error from anywhere in the core. */
export function statusFor(error: unknown): number {
  if (error instanceof InvalidInputError || error instanceof ConfigError) return 400;
  if (error instanceof NotFoundError || error instanceof SessionNotFoundError) return 404;
  // A session that cannot do this in its state (ended, not ready, not discovered).
  if (error instanceof ConflictError || error instanceof SessionError) return 409;
  // The cluster (its SSH connection, its batch system) failed us, not the client.
  if (
    error instanceof SshError ||
    error instanceof CommandError ||
    error instanceof SchedulerError ||
    error instanceof TimeoutError
  ) {
    return 502;
  }
  if (error instanceof NotReadyError || error instanceof AbortedError) return 503;
  return 500;
}

export function errorBody(error: unknown): ApiErrorBody {
  if (error instanceof HpcError) {
    return {
      error: {
        message: error.message,
        ...(error.hint === undefined ? {} : { hint: error.hint }),
        kind: error.name,
        // Every bad field at once, so a launch form can mark them all.
        ...(error instanceof InvalidParametersError
          ? { template: error.template, problems: error.problems }
          : {}),
        ...(error instanceof SessionError && error.logTail !== undefined
          ? { logTail: error.logTail }
          : {}),
      },
    };
  }
  // Unexpected errors are bugs; their text may still help, their stack stays in the log.
  const message = error instanceof Error ? error.message : String(error);
  return { error: { message: `Internal error: ${message}`, kind: 'InternalError' } };
}

export function sendError(res: ServerResponse, error: unknown, status = statusFor(error)): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, status, errorBody(error));
}

/** An HTTP error response written straight to a socket, for refused WebSocket upgrades. */
export function writeSocketError(socket: Socket, error: unknown, status = statusFor(error)): void {
  const text = JSON.stringify(errorBody(error));
  const reason = STATUS_TEXT[status] ?? 'Error';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(text)}\r\n` +
      'Connection: close\r\n\r\n' +
      text,
  );
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  404: 'Not Found',
  409: 'Conflict',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

/** Reads a JSON body; an empty body is `undefined`. Throws InvalidInputError on bad input. */
export async function readJsonBody(req: IncomingMessage, signal?: AbortSignal): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    if (signal?.aborted === true) throw new AbortedError();
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > MAX_BODY_BYTES) {
      throw new InvalidInputError(`The request body is larger than ${MAX_BODY_BYTES} bytes.`);
    }
    chunks.push(buf);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new InvalidInputError('The request body is not valid JSON.', {
      cause: err,
      hint: 'Send a JSON document with Content-Type: application/json.',
    });
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
