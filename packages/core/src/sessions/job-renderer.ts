/**
 * The session layer's view of templates: find one by name, validate parameter values (with the
 * cluster's site info when known), render the job. `templateRenderer(dir)` binds it to the
 * templates module; tests may bind their own. Also the session's display title.
 */
import { InvalidInputError } from '../errors.js';
import type { ClusterDefaults } from '../config/types.js';
import type { ResourceRequest, SiteInfo } from '../schedulers/types.js';
import { loadTemplates } from '../templates/template-loader.js';
import type { RenderContext, RenderedJob, Template } from '../templates/types.js';
import { validateParams } from '../templates/validate-params.js';
import { renderJob } from '../templates/render-job.js';
import type { ParamValue } from './types.js';

export type { RenderContext, RenderedJob };

/** What the session layer needs to know of a template. */
export interface SessionTemplate {
  readonly name: string;
  readonly title: string;
  /** "server" (a Jupyter server), "kernel", "engine". Decides the secret the job reads. */
  readonly kind: string;
  readonly parameters?: { readonly properties: Readonly<Record<string, unknown>> };
}

export interface JobRenderer<T extends SessionTemplate = SessionTemplate> {
  /** The template by name; InvalidInputError naming the ones that exist if there is none. */
  template(name: string, signal?: AbortSignal): Promise<T>;
  /** Typed values with defaults applied, or InvalidInputError listing every problem. */
  validate(
    template: T,
    values: Readonly<Record<string, unknown>>,
    siteInfo?: SiteInfo,
  ): Readonly<Record<string, ParamValue>>;
  render(
    template: T,
    values: Readonly<Record<string, ParamValue>>,
    context: RenderContext,
  ): RenderedJob;
}

/**
 * The templates in `dir` (e.g. BUILTIN_TEMPLATES_DIR), loaded once and kept; a failed load is
 * retried on the next call.
 */
export function templateRenderer(dir: string): JobRenderer<Template> {
  let loaded: Promise<Map<string, Template>> | undefined;
  return {
    async template(name, signal) {
      loaded ??= loadTemplates(dir, signal ? { signal } : {}).catch((error: unknown) => {
        loaded = undefined;
        throw error;
      });
      const all = await loaded;
      const template = all.get(name);
      if (template !== undefined) return template;
      throw new InvalidInputError(`No template named "${name}".`, {
        hint: `Templates: ${[...all.keys()].join(', ')}.`,
      });
    },
    validate: validateParams,
    render: renderJob,
  };
}

/**
 * The spec's values plus the cluster's default partition/account/QOS for the template's
 * parameters of those names that the spec leaves unset.
 */
export function withClusterDefaults(
  template: SessionTemplate,
  values: Readonly<Record<string, ParamValue>>,
  defaults: ClusterDefaults | undefined,
): Record<string, ParamValue> {
  const out: Record<string, ParamValue> = { ...values };
  const properties = template.parameters?.properties ?? {};
  for (const key of ['partition', 'account', 'qos'] as const) {
    const value = defaults?.[key];
    const unset = out[key] === undefined || out[key] === '';
    if (value !== undefined && unset && Object.hasOwn(properties, key)) out[key] = value;
  }
  return out;
}

/** "JupyterLab on testlab (2 nodes, 1.5 h)". */
export function sessionTitle(
  template: SessionTemplate,
  cluster: string,
  resources: ResourceRequest,
): string {
  const parts: string[] = [];
  const nodes = resources.nodes ?? 1;
  parts.push(`${nodes} node${nodes === 1 ? '' : 's'}`);
  const minutes = resources.walltimeMinutes;
  if (minutes !== undefined) {
    parts.push(minutes < 60 ? `${minutes} min` : `${round(minutes / 60)} h`);
  }
  return `${template.title} on ${cluster} (${parts.join(', ')})`;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
