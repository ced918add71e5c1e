// Test support: the real `starling` binary on a free port with a temporary
// data directory, Debian's Chromium through playwright-core (never a
// downloaded browser), a PNG made on the spot, and polling assertions.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, deflateSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, '../..');
export const outputDir = resolve(here, '../e2e-output');

export const CHROMIUM = process.env.STARLING_CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];

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

/**
 * Starts the server; resolves once /health answers. `env` adds settings.
 * Returns { base, stop(), log() }.
 */
export async function startServer(env = {}) {
  const bin = starlingBinary();
  if (!existsSync(bin)) throw new Error(`no starling binary at ${bin}: run cargo build first (or set STARLING_BIN)`);
  const dataDir = mkdtempSync(join(tmpdir(), 'starling-e2e-'));
  const port = await freePort();
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^starling_/i.test(k) || /^starling_test_/i.test(k)));
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
  return { base, stop, log: () => output };
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
