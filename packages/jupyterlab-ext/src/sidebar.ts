/**
 * The HPC sidebar: agent status, clusters (with config problems and reachability), templates as
 * cards that open a launch form, and session cards. It draws the model and nothing else; actions
 * go to the commands index.ts registers, and launching goes through `launch`.
 */
import { Widget } from '@lumino/widgets';
import type { AgentApi } from './agent-api.js';
import type { ParamValue, TemplateSummary } from './agent-types.js';
import { CardInline } from './card-inline.js';
import { button, h } from './dom.js';
import type { HpcModel } from './hpc-model.js';
import { LaunchForm } from './launch-form.js';
import { sessionCard, type SessionActions } from './session-card.js';

export interface SidebarOptions {
  readonly model: HpcModel;
  readonly api: AgentApi;
  readonly actions: SessionActions;
  readonly defaultCluster: () => string;
  readonly notify: (message: string) => void;
  /** Saves a kernel template's values as a profile and kernelspec (offered on kernel forms). */
  readonly installKernel: (request: {
    readonly template: string;
    readonly cluster: string;
    readonly params: Readonly<Record<string, ParamValue>>;
    readonly displayName: string;
  }) => Promise<void>;
}

const TICK_MS = 15_000;

const noop = (): void => undefined;

export class HpcSidebar extends Widget {
  private readonly status = h('div', { class: 'hpcj-status', role: 'status' });
  private readonly clustersNode = h('ul', { class: 'hpcj-list hpcj-clusters' });
  private readonly clusterSelect = h('select', {
    class: 'hpcj-input hpcj-cluster-select',
    'aria-label': 'Cluster to launch on',
  });
  private readonly templatesNode = h('ul', { class: 'hpcj-list hpcj-templates' });
  private readonly formNode = h('div', { class: 'hpcj-form-slot' });
  private readonly sessionsNode = h('ul', { class: 'hpcj-list hpcj-sessions' });
  /** Each session card's controls and messages that outlive a redraw, by session id. */
  private readonly inlines = new Map<string, CardInline>();
  private readonly unsubscribe: () => void;
  private readonly ticker: ReturnType<typeof setInterval>;
  private chosenCluster = '';

  constructor(private readonly options: SidebarOptions) {
    super();
    this.id = 'hpc-jupyter-sidebar';
    this.addClass('hpcj-sidebar');
    this.title.caption = 'HPC clusters and sessions';
    this.clusterSelect.addEventListener('change', () => {
      this.chosenCluster = this.clusterSelect.value;
    });
    this.node.append(
      h('header', { class: 'hpcj-header' }, h('h2', {}, 'HPC'), this.status),
      h('section', { 'aria-label': 'Sessions' }, h('h3', {}, 'Sessions'), this.sessionsNode),
      h(
        'section',
        { 'aria-label': 'Launch' },
        h('h3', {}, 'Launch'),
        h('label', { class: 'hpcj-line hpcj-cluster-pick' }, 'On ', this.clusterSelect),
        this.formNode,
        this.templatesNode,
      ),
      h('section', { 'aria-label': 'Clusters' }, h('h3', {}, 'Clusters'), this.clustersNode),
    );
    this.unsubscribe = options.model.onChange(() => {
      this.render();
    });
    this.ticker = setInterval(() => {
      if (this.isVisible) this.renderSessions();
    }, TICK_MS);
    this.render();
  }

  override dispose(): void {
    if (this.isDisposed) return;
    this.unsubscribe();
    clearInterval(this.ticker);
    for (const inline of this.inlines.values()) inline.dispose();
    super.dispose();
  }

  /** Opens the launch form for `template`, optionally prefilled (relaunch). */
  async showForm(
    template: string,
    cluster?: string,
    values?: Readonly<Record<string, ParamValue>>,
  ): Promise<void> {
    const target = cluster ?? this.currentCluster();
    if (target === '') {
      this.options.notify(
        'No cluster is configured: add one to ~/.config/hpc-jupyter/clusters.yaml.',
      );
      return;
    }
    this.formNode.replaceChildren(h('div', { class: 'hpcj-line hpcj-muted' }, 'Loading form…'));
    try {
      const form = await this.options.api.templateForm(template, target);
      const launch = new LaunchForm({
        form,
        cluster: target,
        ...(values === undefined ? {} : { values }),
        submit: async (params) => {
          await this.options.api.startSession({ cluster: target, template, params });
          this.formNode.replaceChildren();
        },
        cancel: () => {
          this.formNode.replaceChildren();
        },
        ...(form.kind === 'kernel'
          ? {
              installKernel: (params, displayName) =>
                this.options.installKernel({ template, cluster: target, params, displayName }),
            }
          : {}),
      });
      this.formNode.replaceChildren(launch.node);
      launch.node.querySelector<HTMLElement>('input, select')?.focus();
    } catch (err) {
      this.formNode.replaceChildren(
        h(
          'div',
          { class: 'hpcj-line hpcj-error' },
          err instanceof Error ? err.message : String(err),
        ),
      );
    }
  }

  private currentCluster(): string {
    const names = this.options.model.clusters.map((c) => c.name);
    for (const name of [this.chosenCluster, this.options.defaultCluster()]) {
      if (name !== '' && names.includes(name)) return name;
    }
    return names.find((n) => n !== 'local') ?? names[0] ?? '';
  }

  private render(): void {
    this.renderStatus();
    this.renderClusters();
    this.renderTemplates();
    this.renderSessions();
  }

  private renderStatus(): void {
    const { model } = this.options;
    const text =
      model.connection === 'live'
        ? 'Connected to the agent'
        : model.connection === 'connecting'
          ? 'Connecting to the agent…'
          : (model.error ?? 'The agent cannot be reached.');
    this.status.textContent = text;
    this.status.dataset['connection'] = model.connection;
  }

  private renderClusters(): void {
    const { model } = this.options;
    const items = model.clusters.map((c) => {
      const reach = model.clusterStatus(c.name);
      const state =
        reach === undefined
          ? ''
          : reach.reachable
            ? 'reachable'
            : `unreachable: ${reach.error ?? ''}`;
      return h(
        'li',
        { class: 'hpcj-cluster', 'data-cluster': c.name },
        h('span', { class: 'hpcj-card-title' }, c.title ?? c.name),
        h(
          'span',
          { class: 'hpcj-muted' },
          ` ${c.scheduler}${c.host === undefined ? '' : ` · ${c.host}`}`,
        ),
        state !== '' &&
          h(
            'div',
            { class: reach?.reachable === true ? 'hpcj-line' : 'hpcj-line hpcj-error' },
            state,
          ),
      );
    });
    const problems = model.problems.map((p) =>
      h(
        'li',
        { class: 'hpcj-problem hpcj-error' },
        `${p.file}${p.line === undefined ? '' : `:${p.line}`}: ${p.message}`,
      ),
    );
    this.clustersNode.replaceChildren(...items, ...problems);
    const current = this.currentCluster();
    this.clusterSelect.replaceChildren(
      ...model.clusters.map((c) => {
        const option = h('option', { value: c.name }, c.title ?? c.name);
        option.selected = c.name === current;
        return option;
      }),
    );
  }

  private renderTemplates(): void {
    this.templatesNode.replaceChildren(
      ...this.options.model.templates.map((t) => this.templateCard(t)),
    );
  }

  private templateCard(t: TemplateSummary): HTMLElement {
    const card = h(
      'li',
      { class: 'hpcj-card hpcj-template', 'data-template': t.name, title: t.description },
      h('div', { class: 'hpcj-card-head' }, h('span', { class: 'hpcj-card-title' }, t.title)),
      h('div', { class: 'hpcj-line hpcj-muted hpcj-clamp' }, t.description),
      h(
        'div',
        { class: 'hpcj-actions' },
        button('Launch…', () => void this.showForm(t.name), {
          'aria-label': `Launch ${t.title}`,
        }),
      ),
    );
    return card;
  }

  private renderSessions(): void {
    const { model, actions } = this.options;
    const now = Date.now();
    const refocus = this.focusAfterRedraw();
    const cards = model.sessions.map((s) => sessionCard(s, now, actions, this.inline(s.id)));
    this.sessionsNode.replaceChildren(
      ...(cards.length > 0 ? cards : [h('li', { class: 'hpcj-muted' }, 'No sessions yet.')]),
    );
    refocus();
    for (const [id, inline] of this.inlines) {
      if (model.session(id) !== undefined) continue;
      inline.dispose();
      this.inlines.delete(id);
    }
  }

  /**
   * Keeps the keyboard where it was across a redraw of the cards: a field or button the card's
   * CardInline keeps is moved into the new card, which blurs it; another control with a
   * `data-action` is found again in the new card of the same session.
   */
  private focusAfterRedraw(): () => void {
    const focused = document.activeElement;
    if (!(focused instanceof HTMLElement) || !this.sessionsNode.contains(focused)) return noop;
    const id = focused.closest<HTMLElement>('.hpcj-session')?.dataset['sessionId'];
    const action = focused.dataset['action'];
    return () => {
      if (this.sessionsNode.contains(focused)) {
        focused.focus();
        return;
      }
      if (id === undefined || action === undefined) return;
      const card = this.sessionsNode.querySelector(`[data-session-id="${CSS.escape(id)}"]`);
      const same = card?.querySelectorAll<HTMLElement>(`[data-action="${CSS.escape(action)}"]`);
      if (same?.length === 1) same[0]?.focus();
    };
  }

  private inline(id: string): CardInline {
    let inline = this.inlines.get(id);
    if (inline === undefined) {
      inline = new CardInline(id, this.options.actions);
      this.inlines.set(id, inline);
    }
    return inline;
  }
}
