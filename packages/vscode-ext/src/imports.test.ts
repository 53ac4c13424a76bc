// STYLE.md, 7: only the entry module touches `vscode` at run time; everything else takes the API
// as a parameter and imports only its types, so it runs in plain Node.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = __dirname;

describe('imports of vscode', () => {
  it('are type-only everywhere but extension.ts', () => {
    const offenders: string[] = [];
    for (const file of readdirSync(SRC)) {
      if (!file.endsWith('.ts') || file === 'extension.ts') continue;
      const text = readFileSync(path.join(SRC, file), 'utf8');
      for (const m of text.matchAll(/^import\s+(type\s+)?[^;]*?from\s+'vscode';/gms)) {
        if (m[1] === undefined) offenders.push(file);
      }
      if (/require\(['"]vscode['"]\)/.test(text)) offenders.push(file);
    }
    expect(offenders).toEqual([]);
    expect(readFileSync(path.join(SRC, 'extension.ts'), 'utf8')).toMatch(
      /^import \* as vscode from 'vscode';$/m,
    );
  });
});
