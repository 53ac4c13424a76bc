/**
 * Opening a URL that carries a secret (JupyterLab's `?token=`) in a browser without putting the
 * secret in any process's argv: a browser is started with its URL on the command line, which every
 * user of a shared login node can read in `ps`. Instead the URL goes into a small redirect page,
 * a 0600 file in the agent's 0700 runtime directory (the one holding its socket), and the browser
 * is given that file's path. Jupyter's own `jupyter lab` does the same (`use_redirect_file`).
 * Owns the `open-*.html` files in that directory: each is swept a few minutes after it was made.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, readdir, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { agentRuntimeDir, ensurePrivateDir } from '../agent/socket-path.js';
import type { Environment } from '../config/paths.js';

const PAGE_PREFIX = 'open-';
/** Long enough for a cold browser to start and read the page; short enough not to pile up. */
export const PAGE_LIFETIME_MS = 5 * 60_000;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${String(c.charCodeAt(0))};`);
}

/** The page: a meta refresh (no script needed), a script as a second way, and a link. */
export function redirectPageHtml(url: string): string {
  const attr = escapeHtml(url);
  // JSON.stringify makes a JS string literal; `<` escaped so it cannot close the script element.
  const literal = JSON.stringify(url).replace(/</g, '\\u003c');
  return `<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<meta http-equiv="refresh" content="0;url=${attr}">
<title>Opening JupyterLab</title>
<script>window.location.replace(${literal});</script>
</head>
<body><p>Opening JupyterLab. If nothing happens, <a href="${attr}">follow this link</a>.</p></body>
</html>
`;
}

/**
 * Writes the redirect page for `url` (0600, a fresh random name, never through an existing file)
 * into the agent's runtime directory, checked to be ours and 0700 first; returns its path.
 */
export async function writeRedirectPage(url: string, env: Environment): Promise<string> {
  const dir = agentRuntimeDir(env);
  await ensurePrivateDir(dir);
  await sweepPages(dir);
  const file = path.join(dir, `${PAGE_PREFIX}${randomBytes(12).toString('hex')}.html`);
  await writeFile(file, redirectPageHtml(url), { mode: 0o600, flag: 'wx' });
  await chmod(file, 0o600);
  return file;
}

/** Removes the pages older than PAGE_LIFETIME_MS; a page some browser still reads is younger. */
export async function sweepPages(dir: string, now = Date.now()): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(PAGE_PREFIX) || !name.endsWith('.html')) continue;
    const file = path.join(dir, name);
    const info = await stat(file).catch(() => undefined);
    if (info !== undefined && now - info.mtimeMs > PAGE_LIFETIME_MS) {
      await unlink(file).catch(() => undefined);
    }
  }
}

/**
 * Opens `url` in the desktop's browser through a redirect page: `xdg-open file:///...` (which
 * honours $BROWSER and the desktop's default). Returns the page's path. The browser is detached;
 * a missing xdg-open is not an error (the URL was printed too).
 */
export async function openInBrowser(url: string, env: Environment): Promise<string> {
  const page = await writeRedirectPage(url, env);
  spawn('xdg-open', [pathToFileURL(page).href], {
    stdio: 'ignore',
    detached: true,
    env: { ...env },
  })
    .on('error', () => undefined)
    .unref();
  return page;
}
