/**
 * The agent's API shapes, taken as types from @hpc-jupyter/core (erased at build time: the
 * browser bundle never carries the core), plus the few helpers the browser side needs.
 */
export type {
  AccessResponse,
  AgentStreamEvent,
  ApiErrorBody,
  AttachResponse,
  ClusterInfo,
  ClustersResponse,
  LogsResponse,
  ParameterDefinition,
  ParameterSchema,
  KernelspecInstallResponse,
  PromptEvent,
  PromptReply,
  SessionEndpoint,
  SessionRecord,
  SessionSpec,
  SessionState,
  TemplateForm,
  TemplateSummary,
  TemplatesResponse,
  ParamValue,
} from '@hpc-jupyter/core';

import type { SessionState } from '@hpc-jupyter/core';

/** The states after which a session never changes again (core's FINAL_STATES). */
export const ENDED_STATES: ReadonlySet<SessionState> = new Set([
  'completed',
  'failed',
  'cancelled',
  'timed-out',
]);

export function hasEnded(state: SessionState): boolean {
  return ENDED_STATES.has(state);
}
