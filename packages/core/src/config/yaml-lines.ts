/**
 * Maps a key path in a parsed YAML document (as ajv reports it) back to a 1-based line, so every
 * config message can say where to look. Works on yaml's node tree, not on the plain JS value.
 */

import { isMap, isScalar, type Document, type LineCounter, type Node, type Pair } from 'yaml';

/** Finds lines of key paths in one document. */
export class YamlLines {
  constructor(
    private readonly doc: Document,
    private readonly counter: LineCounter,
  ) {}

  /**
   * The line of the deepest key of `segments` that exists in the document: the key itself for a
   * value that is there (a block scalar's content starts a line later, but its key is where people
   * look), or the closest existing parent when the path runs out (a missing key).
   */
  lineOf(segments: readonly string[]): number | undefined {
    let node: unknown = this.doc.contents;
    let line = this.rangeLine(node);
    for (const segment of segments) {
      const pair = findPair(node, segment);
      if (pair === undefined) break;
      line = this.rangeLine(pair.key) ?? this.rangeLine(pair.value) ?? line;
      node = pair.value;
    }
    return line;
  }

  /** The line of a byte offset in the source. */
  lineAt(offset: number): number {
    return this.counter.linePos(offset).line;
  }

  private rangeLine(node: unknown): number | undefined {
    const range = (node as Partial<Node> | null | undefined)?.range;
    return range === undefined || range === null ? undefined : this.lineAt(range[0]);
  }
}

function findPair(node: unknown, key: string): Pair | undefined {
  if (!isMap(node)) return undefined;
  // Later duplicates are a YAML error reported elsewhere; the first match is as good as any.
  for (const item of node.items) {
    const k: unknown = item.key;
    const name = isScalar(k) ? String(k.value) : String(k);
    if (name === key) return item;
  }
  return undefined;
}

/** Splits an ajv instancePath ("/clusters/testlab/ssh") into unescaped segments. */
export function pointerSegments(instancePath: string): string[] {
  if (instancePath === '') return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/** A key path for messages: `clusters.testlab.ssh.port`. */
export function keyPathOf(segments: readonly string[]): string {
  return segments.join('.');
}
