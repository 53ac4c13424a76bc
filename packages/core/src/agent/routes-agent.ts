/** Routes about the agent itself: health, shutdown, the event stream, and SSH prompts. */
import { InvalidInputError } from '../errors.js';
import { isFinal } from '../schedulers/types.js';
import type { HealthInfo, PromptAnswer, PromptReply, PromptsResponse } from './api-types.js';
import { isRecord } from './http-json.js';
import type { Route } from './router.js';
import type { RouteDeps } from './routes.js';

export function agentRoutes(deps: RouteDeps): Route[] {
  return [
    {
      method: 'GET',
      path: '/v1/health',
      handle: () => {
        const sessions = deps.sessions.list();
        const body: HealthInfo = {
          version: deps.version,
          pid: process.pid,
          uptimeSeconds: Math.round((Date.now() - deps.startedAt) / 1000),
          sessions: sessions.length,
          liveSessions: sessions.filter((s) => !isFinal(s.state)).length,
          eventClients: deps.events.clientCount,
        };
        return { body };
      },
    },
    {
      method: 'POST',
      path: '/v1/shutdown',
      handle: ({ res }) => {
        // Stop only once the answer is out, so the client learns that it worked.
        res.once('finish', deps.requestShutdown);
        return { status: 202, body: { stopping: true } };
      },
    },
    {
      method: 'GET',
      path: '/v1/events',
      handle: ({ res }) => {
        deps.events.attach(res);
        return 'streaming';
      },
    },
    {
      method: 'GET',
      path: '/v1/prompts',
      handle: () => {
        const body: PromptsResponse = { prompts: deps.prompter.list() };
        return { body };
      },
    },
    {
      method: 'POST',
      path: '/v1/prompts/{id}',
      handle: async ({ params, body }) => {
        deps.prompter.answer(params['id'] ?? '', parseReply(await body()));
        return { status: 204, body: undefined };
      },
    },
  ];
}

/** `{ answer: string | string[] | boolean }` or `{ decline: true }`. */
export function parseReply(value: unknown): PromptReply {
  if (!isRecord(value)) {
    throw new InvalidInputError('Send a JSON object: { "answer": ... } or { "decline": true }.');
  }
  if (value['decline'] === true) return { decline: true };
  const answer = value['answer'];
  if (isAnswer(answer)) return { answer };
  throw new InvalidInputError(
    '"answer" must be a string, a list of strings (keyboard-interactive) or a boolean (host key).',
  );
}

function isAnswer(value: unknown): value is PromptAnswer {
  return (
    typeof value === 'string' ||
    typeof value === 'boolean' ||
    (Array.isArray(value) && value.every((v) => typeof v === 'string'))
  );
}
