/**
 * Dragging a session card onto a notebook drops a code cell there: a Lumino drag carrying the
 * notebook's own cell MIME type, which JupyterLab's notebook accepts as cells copied from
 * elsewhere (as between two notebooks). Buttons and fields inside the card keep their clicks.
 */
import { MimeData } from '@lumino/coreutils';
import { Drag } from '@lumino/dragdrop';
import { dragCells, JUPYTER_CELL_MIME } from './notebook-insert.js';

/** How far the pointer must move before a press on the card becomes a drag. */
const DRAG_THRESHOLD_PX = 5;

export function startCellDrag(node: HTMLElement, code: string): void {
  node.addEventListener('pointerdown', (down) => {
    const control = (down.target as Element | null)?.closest('button, input, label');
    if (down.button !== 0 || control != null) return;
    // No text selection while the pointer is down on the card (a click still clicks).
    down.preventDefault();
    const move = (ev: PointerEvent): void => {
      const dx = ev.clientX - down.clientX;
      const dy = ev.clientY - down.clientY;
      if (Math.hypot(dx, dy) < DRAG_THRESHOLD_PX) return;
      cleanup();
      ev.preventDefault();
      window.getSelection()?.removeAllRanges();
      const image = node.cloneNode(true) as HTMLElement;
      image.classList.add('hpcj-drag-image');
      image.style.width = `${node.offsetWidth}px`;
      const drag = new Drag({
        mimeData: new MimeData(),
        dragImage: image,
        supportedActions: 'copy',
        proposedAction: 'copy',
        source: node,
      });
      drag.mimeData.setData(JUPYTER_CELL_MIME, dragCells(code));
      void drag.start(ev.clientX, ev.clientY);
    };
    const cleanup = (): void => {
      document.removeEventListener('pointermove', move, true);
      document.removeEventListener('pointerup', cleanup, true);
    };
    document.addEventListener('pointermove', move, true);
    document.addEventListener('pointerup', cleanup, true);
  });
}
