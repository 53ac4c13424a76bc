/** A tiny element builder for the sidebar's plain-DOM views: text only, never HTML strings. */
export type Child = Node | string | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Readonly<Record<string, string>> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value);
  for (const child of children) {
    if (child === undefined || child === false) continue;
    el.append(child);
  }
  return el;
}

export function button(label: string, onClick: () => void, attrs: Record<string, string> = {}) {
  const el = h('button', { type: 'button', class: 'jp-Button hpcj-button', ...attrs }, label);
  el.addEventListener('click', (ev) => {
    ev.stopPropagation();
    onClick();
  });
  return el;
}
