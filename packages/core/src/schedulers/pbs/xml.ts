/**
 * A small, strict reader for the flat XML Torque prints (`qstat -x`, `pbsnodes -x`): elements,
 * text and the five entities plus numeric references. No attributes are kept, no DTD is read, so
 * an entity cannot expand into anything. Pure; throws on markup that does not nest.
 */

export interface XmlElement {
  readonly name: string;
  readonly children: XmlElement[];
  text: string;
}

const ENTITIES: Readonly<Record<string, string>> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
};

export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, ref: string) => {
    if (ref.startsWith('#x') || ref.startsWith('#X'))
      return String.fromCodePoint(parseInt(ref.slice(2), 16));
    if (ref.startsWith('#')) return String.fromCodePoint(Number(ref.slice(1)));
    return ENTITIES[ref] ?? whole;
  });
}

/** The document's elements under a synthetic root named "". */
export function parseXml(text: string): XmlElement {
  const root: XmlElement = { name: '', children: [], text: '' };
  const stack: XmlElement[] = [root];
  const tag =
    /<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<!\[CDATA\[([\s\S]*?)\]\]>|<(\/?)([A-Za-z_][\w.:-]*)[^>]*?(\/?)>/g;
  let last = 0;
  for (let m = tag.exec(text); m !== null; m = tag.exec(text)) {
    const top = stack.at(-1) ?? root;
    top.text += decodeEntities(text.slice(last, m.index));
    last = tag.lastIndex;
    const [whole, cdata, closing, name = '', selfClosing] = m;
    if (whole.startsWith('<!--') || whole.startsWith('<?')) continue;
    if (cdata !== undefined) {
      top.text += cdata;
    } else if (closing === '/') {
      if (top.name !== name) throw new Error(`XML: </${name}> closes <${top.name}>`);
      stack.pop();
    } else {
      const element: XmlElement = { name, children: [], text: '' };
      top.children.push(element);
      if (selfClosing !== '/') stack.push(element);
    }
  }
  if (stack.length !== 1) throw new Error(`XML: <${stack.at(-1)?.name ?? ''}> is never closed`);
  return root;
}

/** The text of the first child named `name`, trimmed; undefined when absent or empty. */
export function childText(element: XmlElement, name: string): string | undefined {
  const text = element.children.find((c) => c.name === name)?.text.trim();
  return text === undefined || text === '' ? undefined : text;
}

export function child(element: XmlElement, name: string): XmlElement | undefined {
  return element.children.find((c) => c.name === name);
}
