/**
 * JSON in and out for the agent's HTTP API: bounded request bodies (size, nesting, and the bytes
 * all requests together may hold at once), and one mapping from the core's typed errors to status
 * codes and the `{ error: { message, hint, kind } }` body, so every route (and the web proxy)
 * fails the same way.
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
import { RequestRefusedError } from './request-guard.js';

/** Request bodies are small JSON documents; anything larger is a mistake or an attack. */
export const MAX_BODY_BYTES = 1024 * 1024;
/** Arrays and objects inside each other; the API's deepest document has 3 levels. */
export const MAX_JSON_DEPTH = 64;
/**
 * What all bodies being read at once may hold together. Real bodies are a few KiB: this only
 * stops many concurrent near-limit bodies from growing the agent by gigabytes.
 */
export const MAX_PENDING_BODY_BYTES = 8 * 1024 * 1024;

let pendingBodyBytes = 0;

/** Bytes of request bodies held right now (for tests and health). */
export function pendingBodies(): number {
  return pendingBodyBytes;
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

/** The HTTP status for an error from anywhere in the core. */
export function statusFor(error: unknown): number {
  if (error instanceof RequestRefusedError) return error.status;
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
  const close = error instanceof RequestRefusedError && error.close;
  sendJson(res, status, errorBody(error), close ? { connection: 'close' } : {});
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
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

function tooLarge(): RequestRefusedError {
  return new RequestRefusedError(
    413,
    `The request body is larger than ${MAX_BODY_BYTES} bytes.`,
    'Request bodies are small JSON documents; send less.',
    true,
  );
}

/**
 * Reads a JSON body; an empty body is `undefined`. Throws InvalidInputError on bad JSON, a
 * RequestRefusedError (413, 503) on too much of it.
 */
export async function readJsonBody(req: IncomingMessage, signal?: AbortSignal): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req) {
      if (signal?.aborted === true) throw new AbortedError();
      const buf = chunk as Buffer;
      size += buf.length;
      pendingBodyBytes += buf.length;
      if (size > MAX_BODY_BYTES) throw tooLarge();
      if (pendingBodyBytes > MAX_PENDING_BODY_BYTES) {
        throw new RequestRefusedError(
          503,
          'The agent is reading too many large request bodies at once.',
          'Try again in a moment.',
          true,
        );
      }
      chunks.push(buf);
    }
  } finally {
    pendingBodyBytes -= size;
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return undefined;
  if (jsonDepth(text) > MAX_JSON_DEPTH) {
    throw new InvalidInputError(
      `The request body nests arrays and objects more than ${MAX_JSON_DEPTH} deep.`,
      { hint: "The agent's requests are flat JSON objects; see openapi/agent.yaml." },
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new InvalidInputError('The request body is not valid JSON.', {
      cause: err,
      hint: 'Send a JSON document with Content-Type: application/json.',
    });
  }
}

/**
 * How deep `[` and `{` nest in a JSON text, strings skipped; stops counting past the limit.
 * Checked before parsing: a megabyte of `[` parses into half a million arrays.
 */
export function jsonDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > deepest) deepest = depth;
      if (deepest > MAX_JSON_DEPTH) return deepest;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
