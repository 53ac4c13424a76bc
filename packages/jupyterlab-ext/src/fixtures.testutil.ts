/** Shapes for the unit tests: a launch form like the agent serves for `jupyter`, and a session. */
import type { SessionRecord, TemplateForm } from './agent-types.js';

export const JUPYTER_FORM: TemplateForm = {
  name: 'jupyter',
  title: 'JupyterLab',
  description: 'JupyterLab on a compute node.',
  kind: 'server',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      partition: {
        type: 'string',
        title: 'Partition',
        description: 'Where the job runs.',
        enum: ['debug', 'big'],
        default: 'debug',
        'x-options': 'partitions',
      },
      hours: {
        type: 'number',
        title: 'Hours',
        description: 'Walltime.',
        default: 1,
        minimum: 0.1,
        maximum: 8784,
      },
      nodes: {
        type: 'integer',
        title: 'Nodes',
        description: 'Nodes.',
        default: 1,
        minimum: 1,
        maximum: 4,
      },
      email: {
        type: 'string',
        title: 'E-mail',
        description: 'Mail when started.',
        pattern: '^[^@ ]+@[^@ ]+$',
        patternErrorMessage: 'an e-mail address',
      },
      exclusive: { type: 'boolean', title: 'Exclusive', description: 'Whole nodes.' },
    },
  },
  partitionParam: 'partition',
  partitionLimits: { debug: { nodes: { maximum: 4 } }, big: { nodes: { maximum: 16 } } },
};

export function session(over: Partial<SessionRecord> = {}): SessionRecord {
  return {
    id: 's0123456789ab',
    cluster: 'testlab',
    template: 'jupyter',
    params: { nodes: 1, hours: 1 },
    title: 'JupyterLab on testlab (1 node, 1 h)',
    jobName: 'hpcj-s0123456789ab',
    state: 'queued',
    createdAt: '2026-01-01T10:00:00.000Z',
    updatedAt: '2026-01-01T10:00:00.000Z',
    ...over,
  };
}
