/** One session as a card: title, state chip, queue/time/node lines and its actions. */
import type { SessionRecord } from './agent-types.js';
import type { CardInline } from './card-inline.js';
import { startCellDrag } from './cell-drag.js';
import { button, h } from './dom.js';
import { cardActions, cardLines, chipTone, clientCode, scalingOf } from './session-format.js';

export interface SessionActions {
  open(id: string): void;
  dashboard(id: string, endpoint: string): void;
  insertClient(id: string): void;
  /** Puts what connects to the session on the clipboard; rejects with what went wrong. */
  copyConnection(id: string): Promise<void>;
  /** Nodes running workers (engines) of a Dask (ipyparallel) session: its own and its extra jobs'. */
  workerNodes(id: string): number;
  /** Scales a session to `nodes` nodes of workers (engines); resolves to what the card should say. */
  scale(id: string, nodes: number): Promise<string>;
  logs(id: string): void;
  stop(id: string): void;
  relaunch(id: string): void;
}

/** `inline` is the session's own, kept by the sidebar across redraws. */
export function sessionCard(
  s: SessionRecord,
  now: number,
  actions: SessionActions,
  inline: CardInline,
): HTMLElement {
  const lines = cardLines(s, now);
  const can = cardActions(s);
  const scaling = scalingOf(s);
  // A cluster that stopped being ready cannot be scaled: the open control goes with it.
  if (!can.scale) inline.closeScale();
  const where = `${s.template} on ${s.cluster}${s.jobId === undefined ? '' : ` · job ${s.jobId}`}`;
  const card = h(
    'li',
    { class: 'hpcj-card hpcj-session', 'data-session-id': s.id, 'data-state': s.state },
    h(
      'div',
      { class: 'hpcj-card-head' },
      h('span', { class: 'hpcj-card-title', title: s.title }, s.title),
      h('span', { class: `hpcj-chip hpcj-chip-${chipTone(s.state)}`, role: 'status' }, s.state),
    ),
    h('div', { class: 'hpcj-line hpcj-muted' }, where, s.discovered === true ? ' · found' : ''),
    lines.waiting !== undefined && h('div', { class: 'hpcj-line hpcj-waiting' }, lines.waiting),
    lines.time !== undefined && h('div', { class: 'hpcj-line hpcj-time' }, lines.time),
    lines.nodes !== undefined && h('div', { class: 'hpcj-line hpcj-nodes' }, lines.nodes),
    lines.problem !== undefined && h('div', { class: 'hpcj-line hpcj-error' }, lines.problem),
    h(
      'div',
      { class: 'hpcj-actions' },
      can.open &&
        button('Open', () => {
          actions.open(s.id);
        }),
      ...can.dashboards.map((d) =>
        button(
          d.label,
          () => {
            actions.dashboard(s.id, d.endpoint);
          },
          { 'data-action': 'dashboard', 'data-endpoint': d.endpoint },
        ),
      ),
      can.insertClient &&
        button(
          'Insert client',
          () => {
            actions.insertClient(s.id);
          },
          {
            'data-action': 'insert-client',
            title: 'Insert code that connects a client to this cluster into the active notebook',
          },
        ),
      can.copy !== undefined && inline.copyButton(COPY_TITLES[can.copy]),
      can.scale &&
        scaling !== undefined &&
        button(
          'Scale…',
          () => {
            inline.toggleScale(scaling);
          },
          {
            'data-action': 'scale',
            'aria-expanded': String(inline.scaleOpen),
            title: `Add or remove nodes of ${scaling.engine} ${scaling.noun} (extra ${scaling.one} jobs)`,
          },
        ),
      can.logs &&
        button('Logs', () => {
          actions.logs(s.id);
        }),
      can.stop &&
        button('Stop', () => {
          actions.stop(s.id);
        }),
      can.relaunch &&
        button('Relaunch', () => {
          actions.relaunch(s.id);
        }),
    ),
    inline.node,
  );
  const code = clientCode(s);
  if (code !== undefined) {
    card.classList.add('hpcj-draggable');
    card.title = 'Drag onto a notebook to insert the client code';
    startCellDrag(card, code);
  }
  return card;
}

const COPY_TITLES = {
  'client-code': 'Copy the code that connects a client to this cluster',
  url: 'Copy the URL that opens this JupyterLab (it holds the token: keep it private)',
} as const;
