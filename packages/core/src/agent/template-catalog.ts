/**
 * What the agent needs from the templates: a list for pickers and a launch form per template and
 * cluster. The routes see only the `TemplateCatalog` interface; `createTemplateCatalog` binds it
 * to the templates module (load once, forms with the cluster's site info), and tests inject fakes.
 */
import { NotFoundError, throwIfAborted } from '../errors.js';
import type { SiteInfo } from '../schedulers/types.js';
import { templateForm } from '../templates/template-form.js';
import type { Template, TemplateForm, TemplateKind } from '../templates/types.js';

export type { TemplateForm } from '../templates/types.js';

export interface TemplateSummary {
  readonly name: string;
  readonly title: string;
  readonly description: string;
  /** What the job provides: "server", "kernel" or "engine". */
  readonly kind: TemplateKind;
}

export interface TemplateCatalog {
  list(options?: { readonly signal?: AbortSignal }): Promise<readonly TemplateSummary[]>;
  /** Throws NotFoundError for an unknown template; may ask the cluster for its site info. */
  form(
    name: string,
    cluster: string,
    options?: { readonly signal?: AbortSignal },
  ): Promise<TemplateForm>;
}

export interface TemplateCatalogSource {
  /** The templates by name, e.g. `() => loadTemplates(BUILTIN_TEMPLATES_DIR)`. */
  readonly load: (signal?: AbortSignal) => Promise<ReadonlyMap<string, Template>>;
  /**
   * The cluster's site info for dynamic choices, or undefined when it cannot be had: a form
   * without the site's choices is still a usable form.
   */
  readonly siteInfo: (cluster: string, signal?: AbortSignal) => Promise<SiteInfo | undefined>;
}

/** A catalog over the templates module. Templates load once, on first use, and are kept. */
export function createTemplateCatalog(source: TemplateCatalogSource): TemplateCatalog {
  let loaded: Promise<ReadonlyMap<string, Template>> | undefined;
  const templates = async (signal?: AbortSignal): Promise<ReadonlyMap<string, Template>> => {
    throwIfAborted(signal);
    // Not the caller's signal: the load is shared by every later caller.
    loaded ??= source.load();
    try {
      return await loaded;
    } catch (err) {
      // A broken template directory may be fixed while the agent runs: try again next time.
      loaded = undefined;
      throw err;
    }
  };
  return {
    async list(options = {}) {
      const all = await templates(options.signal);
      return [...all.values()].map((t) => ({
        name: t.name,
        title: t.title,
        description: t.description,
        kind: t.kind,
      }));
    },
    async form(name, cluster, options = {}) {
      const template = (await templates(options.signal)).get(name);
      if (template === undefined) {
        throw new NotFoundError(`No template named "${name}".`, {
          hint: 'List the templates with GET /v1/templates.',
        });
      }
      return templateForm(template, await source.siteInfo(cluster, options.signal));
    },
  };
}
