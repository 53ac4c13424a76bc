/**
 * The per-user agent: its server and lifecycle (`runAgent`), and the client every front end
 * uses to reach it (`connectAgent`, `AgentClient`). The HTTP API is described by
 * `openapi/agent.yaml`.
 */
export { AgentClient, type CallOptions } from './agent-client.js';
export {
  runAgent,
  agentVersion,
  type AgentServices,
  type RunAgentOptions,
  type AgentExitReason,
} from './agent-main.js';
export { AgentPrompter, PROMPT_TIMEOUT_MS, type AgentPrompterOptions } from './agent-prompter.js';
export { AgentServer, type AgentServerOptions } from './agent-server.js';
export {
  connectAgent,
  defaultAgentCommand,
  agentAnswers,
  type ConnectAgentOptions,
} from './connect-agent.js';
export { DEFAULT_IDLE_SECONDS, idleSecondsFrom } from './idle-monitor.js';
export { agentLogPath, agentRuntimeDir, agentSocketPath, agentStateDir } from './socket-path.js';
export {
  createTemplateCatalog,
  type TemplateCatalog,
  type TemplateCatalogSource,
  type TemplateSummary,
} from './template-catalog.js';
export type * from './api-types.js';
export { AGENT_EVENT_TYPES } from './api-types.js';
export { SseParser, type SseMessage } from './sse-parser.js';
