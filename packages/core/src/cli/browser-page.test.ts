import { mkdtemp, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  PAGE_LIFETIME_MS,
  redirectPageHtml,
  sweepPages,
  writeRedirectPage,
} from './browser-page.js';

describe('the redirect page', () => {
  it('is a 0600 file in the 0700 runtime directory that leads to the URL', async () => {
    const xdg = await mkdtemp(path.join(tmpdir(), 'hpcj-xdg-'));
    const url = 'http://127.0.0.1:8888/sessions/s1/lab?token=abc123';
    const page = await writeRedirectPage(url, { XDG_RUNTIME_DIR: xdg });
    expect(path.dirname(page)).toBe(path.join(xdg, 'hpc-jupyter'));
    expect((await stat(page)).mode & 0o777).toBe(0o600);
    expect((await stat(path.dirname(page))).mode & 0o777).toBe(0o700);
    expect(path.basename(page)).not.toContain('abc123');
    const html = await readFile(page, 'utf8');
    expect(html).toContain(
      '<meta http-equiv="refresh" content="0;url=http://127.0.0.1:8888/sessions/s1/lab?token=abc123">',
    );
    expect(html).toContain(
      'window.location.replace("http://127.0.0.1:8888/sessions/s1/lab?token=abc123")',
    );
  });

  it('escapes the URL for the attribute and the script', () => {
    const html = redirectPageHtml('http://h/?a="><script>x</script>&b=\'');
    expect(html).not.toContain('"><script>x');
    expect(html).toContain('&#34;&#62;&#60;script&#62;');
    expect(html).toContain('\\u003cscript>x\\u003c/script>');
  });

  it('sweeps only old pages of its own', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'hpcj-pages-'));
    const old = path.join(dir, 'open-old.html');
    const fresh = path.join(dir, 'open-new.html');
    const other = path.join(dir, 'agent.lock');
    for (const f of [old, fresh, other]) await writeFile(f, '');
    const past = (Date.now() - PAGE_LIFETIME_MS - 60_000) / 1000;
    await utimes(old, past, past);
    await utimes(other, past, past);
    await sweepPages(dir);
    await expect(stat(old)).rejects.toThrow(/ENOENT/);
    await stat(fresh);
    await stat(other);
  });
});
