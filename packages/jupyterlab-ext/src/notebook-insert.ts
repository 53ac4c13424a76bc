/**
 * Puts code into a notebook as a code cell, without depending on @jupyterlab/notebook: the
 * panel is recognised by its class and used through the few members every JupyterLab 4
 * notebook panel has (its context, the notebook's shared model and active cell index).
 */
import type { Widget } from '@lumino/widgets';

interface SharedCell {
  readonly cell_type: string;
  readonly source: string;
  setSource(value: string): void;
}

/** The part of a JupyterLab 4 NotebookPanel used here. */
export interface NotebookPanelLike extends Widget {
  readonly context: { readonly ready: Promise<void> };
  readonly content: {
    activeCellIndex: number;
    readonly model: {
      readonly sharedModel: {
        readonly cells: readonly SharedCell[];
        insertCell(
          index: number,
          cell: { cell_type: 'code'; source: string; metadata: Record<string, never> },
        ): unknown;
      };
    } | null;
  };
}

export function isNotebookPanel(widget: Widget | null | undefined): widget is NotebookPanelLike {
  return widget?.hasClass('jp-NotebookPanel') === true && 'content' in widget;
}

/**
 * Puts `code` into the active cell when that is an empty code cell (a new notebook's first),
 * else into a new code cell below it; that cell becomes the active one. Returns its index.
 */
export async function insertIntoNotebook(panel: NotebookPanelLike, code: string): Promise<number> {
  await panel.context.ready;
  const notebook = panel.content;
  const shared = notebook.model?.sharedModel;
  if (shared === undefined) throw new Error('The notebook has no model yet.');
  const index = placeFor(shared.cells, notebook.activeCellIndex);
  const existing = shared.cells[index];
  if (existing !== undefined && index === notebook.activeCellIndex) existing.setSource(code);
  else shared.insertCell(index, { cell_type: 'code', source: code, metadata: {} });
  notebook.activeCellIndex = index;
  return index;
}

/** Where the code goes: the active cell if it is an empty code cell, else the next index. Pure. */
export function placeFor(
  cells: readonly { readonly cell_type: string; readonly source: string }[],
  active: number,
): number {
  const current = cells[active];
  if (current === undefined) return cells.length;
  return current.cell_type === 'code' && current.source.trim() === '' ? active : active + 1;
}

/** The MIME type JupyterLab's notebook takes dropped cells in (JUPYTER_CELL_MIME). */
export const JUPYTER_CELL_MIME = 'application/vnd.jupyter.cells';

/** The cells a drag carries: one code cell with `code`, as nbformat's JSON. */
export function dragCells(code: string): {
  cell_type: 'code';
  source: string;
  metadata: Record<string, never>;
}[] {
  return [{ cell_type: 'code', source: code, metadata: {} }];
}
