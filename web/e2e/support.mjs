// Test support: the real `starling` binary on a free port with a temporary
// data directory, Debian's Chromium through playwright-core (never a
// downloaded browser), a PNG made on the spot, polling assertions, and the
// steps and looks the browser tests share (signing up, the nav badges, the
// messenger's bubbles, screenshots at both widths).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, deflateSync } from 'node:zlib';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, '../..');
export const outputDir = resolve(here, '../e2e-output');

export const CHROMIUM = process.env.STARLING_CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];

/** Whether Debian's Chromium is installed; on CI it must be. */
export const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI === 'true') {
  throw new Error(`CI=true but Chromium is not installed at ${CHROMIUM} (apt-get install chromium)`);
}
/** The `skip` option of a browser test's describe block. */
export const skipWithoutChromium = haveChromium ? false : `no Chromium at ${CHROMIUM}`;

export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 800 };

/** The starling binary: $STARLING_BIN, else the debug build in the target dir. */
export function starlingBinary() {
  if (process.env.STARLING_BIN) return process.env.STARLING_BIN;
  const target = process.env.CARGO_TARGET_DIR ? resolve(repo, process.env.CARGO_TARGET_DIR) : join(repo, 'target');
  return join(target, 'debug', 'starling');
}

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/** The environment the binary runs with: the caller's, minus its STARLING_* settings. */
function cleanEnv() {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^starling_/i.test(k) || /^starling_test_/i.test(k)));
}

/**
 * Runs a command of the starling binary (e.g. `admin create-user ...`) and
 * resolves with its output; rejects with the output when it fails.
 */
export function starlingCli(args, { cwd, env = {} } = {}) {
  return new Promise((ok, fail) => {
    const child = spawn(starlingBinary(), args, { cwd, env: { ...cleanEnv(), STARLING_LOG: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.once('error', fail);
    child.once('exit', (code) => (code === 0 ? ok(output) : fail(new Error(`starling ${args.join(' ')} exited ${code}:\n${output}`))));
  });
}

/**
 * Starts the server; resolves once /health answers. `env` adds settings;
 * `setup(dataDir)` runs before it starts (e.g. CLI commands on its data).
 * Returns { base, dataDir, stop(), log() }.
 */
export async function startServer(env = {}, { setup } = {}) {
  const bin = starlingBinary();
  if (!existsSync(bin)) throw new Error(`no starling binary at ${bin}: run cargo build first (or set STARLING_BIN)`);
  const dataDir = mkdtempSync(join(tmpdir(), 'starling-e2e-'));
  if (setup) await setup(dataDir);
  const port = await freePort();
  const clean = cleanEnv();
  let output = '';
  const child = spawn(bin, ['serve', '--bind', `127.0.0.1:${port}`, '--data-dir', dataDir], {
    cwd: dataDir,
    env: { ...clean, STARLING_LOG: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const base = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((ok) => child.once('exit', ok));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`starling exited (${child.exitCode}):\n${output}`);
    try {
      const r = await fetch(`${base}/health`);
      if (r.ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`starling did not answer /health within 60 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { base, dataDir, stop, log: () => output };
}

/**
 * A JSON client of the server's API at `base`, for what a test sets up or
 * checks behind the browser's back: `api(method, path, token, body)`. Waits
 * as told when rate limited; 204 gives null; other failures throw.
 */
export function apiClient(base) {
  return async (method, path, token, body) => {
    let r;
    for (;;) {
      r = await fetch(`${base}${path}`, {
        method,
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (r.status !== 429) break;
      await new Promise((ok) => setTimeout(ok, 1000 * Number(r.headers.get('retry-after') || 1)));
    }
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
    return r.status === 204 ? null : r.json();
  };
}

/** Retries `check` (which throws while unmet) until it passes or `ms` elapse. */
export async function eventually(check, ms = 10_000, what = 'condition') {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      const err = new Error(`${what} not met within ${ms} ms: ${last?.message ?? last}`);
      err.cause = last;
      throw err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A `w`x`h` RGB PNG encoded here (no filter). `colour` is [r, g, b] or a
 * function (x, y) => [r, g, b].
 */
export function png(w, h, colour) {
  const at = typeof colour === 'function' ? colour : () => colour;
  const rows = [];
  for (let y = 0; y < h; y++) {
    const row = Buffer.alloc(1 + w * 3);
    for (let x = 0; x < w; x++) row.set(at(x, y).map((c) => Math.max(0, Math.min(255, Math.round(c)))), 1 + x * 3);
    rows.push(row);
  }
  const raw = Buffer.concat(rows);
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td) >>> 0);
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

export function ensureOutputDir() {
  mkdirSync(outputDir, { recursive: true });
  return outputDir;
}

/** A sunset: a sky from gold to violet, a sun, and a dark sea. */
export function sunset(w, h) {
  const mix = (a, b, t) => a.map((v, i) => v + (b[i] - v) * t);
  const horizon = h * 0.68;
  return png(w, h, (x, y) => {
    if (y > horizon) {
      const t = (y - horizon) / (h - horizon);
      const glint = Math.abs(x - w * 0.5) < w * (0.12 - 0.1 * t) && (y % 6 < 3) ? 60 : 0;
      return mix([38, 40, 92], [14, 16, 40], t).map((v) => v + glint);
    }
    const dx = x - w * 0.5;
    const dy = y - horizon * 0.92;
    if (dx * dx + dy * dy < (h * 0.16) ** 2) return [255, 214, 140];
    return mix([250, 176, 70], [92, 60, 150], 1 - y / horizon);
  });
}

/** An avatar: a soft disc on a tinted background. */
export function portrait(size, [r, g, b]) {
  return png(size, size, (x, y) => {
    const dx = x - size / 2;
    const dy = y - size * 0.42;
    const head = dx * dx + dy * dy < (size * 0.2) ** 2;
    const body = y > size * 0.68 && Math.abs(dx) < size * 0.32 - (size - y) * 0.1;
    return head || body ? [250, 246, 240] : [r, g, b];
  });
}

// ---- in the browser ----

export const PASSWORD = 'correct horse battery';

/** Debian's Chromium, headless. */
export const launchBrowser = () => chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });

/**
 * One person: a browser context of their own (cookies, storage) with one
 * page. Script errors on the page are collected in `errors`.
 */
export async function openPerson(browser, base, viewport, { permissions = [] } = {}) {
  const context = await browser.newContext({ viewport, baseURL: base, colorScheme: 'light', permissions });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  return { context, page, errors };
}

/** Signs up through the form and waits for the home page. */
export async function register(page, username, name, password = PASSWORD) {
  await page.goto('/register');
  await page.getByRole('heading', { name: 'Create your account' }).waitFor();
  await page.getByLabel('Username', { exact: true }).fill(username);
  await page.getByLabel('Display name (optional)').fill(name);
  await page.getByLabel('Email').fill(`${username}@example.org`);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.getByRole('heading', { name: 'Home', exact: true }).waitFor();
}

/** The trimmed text of a locator ('' when it has none). */
export const text = async (locator) => (await locator.textContent())?.trim() ?? '';

export const dismissToasts = (page) => page.evaluate(() => document.querySelectorAll('.toast button').forEach((b) => b.click()));

/** An entry of the main navigation; its accessible name carries its unread count. */
export const navLink = (page, label) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: new RegExp(`^${label}`) });
/** The notifications bell. */
export const bell = (page) => navLink(page, 'Notifications');

/** Waits until the nav entry `of` (the bell unless told) shows `n` unread: in its name and its badge, or neither at 0. */
export const expectUnread = (page, n, { of = 'Notifications', ms = 10_000 } = {}) =>
  eventually(
    async () => {
      const link = navLink(page, of);
      if (n === 0) {
        assert.equal(await link.getAttribute('aria-label'), null, 'no count in the name');
        assert.equal(await link.locator('.badge').count(), 0, 'no badge');
      } else {
        assert.equal(await link.getAttribute('aria-label'), `${of} (${n} unread)`);
        assert.equal(await text(link.locator('.badge')), String(n));
      }
    },
    ms,
    `${of} showing ${n} unread`,
  );

/** The open conversation's message bubbles. */
export const bubbles = (page) => page.locator('.conversation .msg');

/**
 * Screenshots of the page at desktop and phone widths into web/e2e-output/
 * as `<name>-desktop.png` and `<name>-phone.png`, then back to the page's own
 * size. Toasts are dismissed and the mouse moved away first. `fullPage`
 * applies to the desktop one (a full-page phone shot would paint the fixed
 * bottom bar mid-page).
 */
export async function shots(page, name, { fullPage = false } = {}) {
  const out = ensureOutputDir();
  const own = page.viewportSize();
  await dismissToasts(page);
  await page.mouse.move(0, 0);
  for (const [size, vp] of [['desktop', DESKTOP], ['phone', PHONE]]) {
    await page.setViewportSize(vp);
    await page.waitForTimeout(150);
    // No half-loaded pictures: those in view have arrived.
    await page.waitForFunction(() =>
      [...document.images]
        .filter((i) => {
          const r = i.getBoundingClientRect();
          return r.bottom > 0 && r.top < innerHeight && r.width > 0;
        })
        .every((i) => i.complete),
    );
    await page.screenshot({ path: join(out, `${name}-${size}.png`), fullPage: fullPage && size === 'desktop' });
  }
  await page.setViewportSize(own);
}
