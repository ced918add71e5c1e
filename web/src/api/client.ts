// The one way the app talks to the server: same-origin requests carrying the
// HttpOnly session cookies, the CSRF header on every write, errors turned
// into ApiError with the server's message and per-field messages, and one
// silent retry after refreshing an expired session.

import type { ErrorBody } from './types';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Turns anything thrown into a message fit to show. */
export function errorMessage(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message;
  return 'Something went wrong.';
}

const CSRF_COOKIE = 'starling_csrf';
/** Over HTTPS the server prefixes it so only this origin can set it. */
const SECURE_CSRF_COOKIE = `__Host-${CSRF_COOKIE}`;
const CSRF_HEADER = 'X-CSRF-Token';

/** The double-submit token the server set as a readable cookie at sign-in. */
export function csrfToken(): string | null {
  let plain: string | null = null;
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === SECURE_CSRF_COOKIE) return v.join('=') || null;
    if (k === CSRF_COOKIE && plain === null) plain = v.join('=') || null;
  }
  return plain;
}

/** How the session store plugs into the client (set once at start-up). */
export interface SessionHooks {
  /** Called before each request: refreshes first when the access token is (nearly) expired. */
  ensureFresh(): Promise<void>;
  /** Called on a 401 from a signed-in request; true if the session was renewed. */
  renew(): Promise<boolean>;
}

let hooks: SessionHooks | null = null;
export function setSessionHooks(h: SessionHooks) {
  hooks = h;
}

type QueryValue = string | number | boolean | null | undefined;

export interface RequestOptions {
  query?: Record<string, QueryValue>;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Internal: set on the retry after a refresh, and for the auth endpoints. */
  noRenew?: boolean;
  /** Answer the body as a Blob (a download) instead of JSON. */
  blob?: boolean;
}

function url(path: string, query?: Record<string, QueryValue>): string {
  if (!query) return path;
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== '') qs.set(k, String(v));
  }
  const s = qs.toString();
  return s ? `${path}?${s}` : path;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'The request was not accepted.',
  401: 'Please sign in again.',
  403: 'You are not allowed to do that.',
  404: 'Not found.',
  413: 'That is too large.',
  415: 'That kind of file is not supported.',
  429: 'Too many attempts. Please wait a moment and try again.',
  502: 'The server is not reachable right now.',
  503: 'The service is temporarily unavailable.',
};

/**
 * Refusals worded for people, by error code: these replace the server's
 * message, which is written for API clients.
 */
const CODE_TEXT: Record<string, string> = {
  blocked: "You can't interact with this account.",
  account_suspended: 'This account is suspended by the moderators of this server.',
  account_pending: 'Your account is waiting for approval by a moderator. You will get an email once it is approved.',
  email_unverified: 'Please confirm your email address first: open the link in the email we sent you.',
  registration_closed: 'Sign-ups are closed on this server at the moment.',
  wrong_password: 'That password is not right.',
  invalid_token: 'This link is not valid any more: it was used already or it expired. Ask for a new one.',
  cannot_report_self: 'You cannot report yourself or your own posts.',
  cannot_block_self: 'You cannot block yourself.',
  cannot_mute_self: 'You cannot mute yourself.',
  already_resolved: 'Another moderator has resolved this report already.',
  nothing_to_remove: 'There is no content to remove in a report about an account.',
  last_admin: 'You are the last admin: make someone else an admin first.',
};

async function toError(res: Response): Promise<ApiError> {
  let body: ErrorBody | null = null;
  try {
    body = (await res.json()) as ErrorBody;
  } catch {
    body = null;
  }
  const e = body?.error;
  let message = (e?.code && CODE_TEXT[e.code]) || e?.message || STATUS_TEXT[res.status] || `The server answered ${res.status}.`;
  if (res.status === 429) {
    const wait = Number(res.headers.get('retry-after'));
    if (wait > 0) message = `${message} (try again in ${wait} s)`;
  }
  return new ApiError(res.status, e?.code ?? `http_${res.status}`, message, e?.fields ?? {});
}

function isWrite(method: string) {
  return !['GET', 'HEAD', 'OPTIONS'].includes(method);
}

function isAuthPath(path: string) {
  return path.startsWith('/api/auth/');
}

export async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  if (hooks && !isAuthPath(path) && !opts.noRenew) await hooks.ensureFresh();
  const headers: Record<string, string> = { Accept: 'application/json', ...opts.headers };
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  const csrf = csrfToken();
  if (csrf && isWrite(method)) headers[CSRF_HEADER] = csrf;
  let res: Response;
  try {
    res = await fetch(url(path, opts.query), {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      credentials: 'same-origin',
      signal: opts.signal,
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'Cannot reach the server. Check your connection and try again.');
  }
  if (res.status === 401 && hooks && !opts.noRenew && !isAuthPath(path)) {
    if (await hooks.renew()) return request<T>(method, path, { ...opts, noRenew: true });
  }
  if (!res.ok) throw await toError(res);
  if (res.status === 204) return undefined as T;
  if (opts.blob) return (await res.blob()) as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export const get = <T>(path: string, query?: Record<string, QueryValue>, signal?: AbortSignal) =>
  request<T>('GET', path, { query, signal });

/**
 * Uploads one file as the multipart field `file`, reporting progress (0..1).
 * XHR rather than fetch: fetch cannot report upload progress.
 */
export async function upload<T>(
  method: 'POST' | 'PUT',
  path: string,
  file: Blob,
  onProgress: (fraction: number) => void,
  signal?: AbortSignal,
  noRenew = false,
): Promise<T> {
  if (hooks && !noRenew) await hooks.ensureFresh();
  const result = await new Promise<{ status: number; text: string; retryAfter: string | null }>(
    (resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(method, path);
      xhr.setRequestHeader('Accept', 'application/json');
      const csrf = csrfToken();
      if (csrf) xhr.setRequestHeader(CSRF_HEADER, csrf);
      xhr.upload.onprogress = (ev) => {
        if (ev.lengthComputable && ev.total > 0) onProgress(ev.loaded / ev.total);
      };
      xhr.onload = () =>
        resolve({ status: xhr.status, text: xhr.responseText, retryAfter: xhr.getResponseHeader('retry-after') });
      xhr.onerror = () =>
        reject(new ApiError(0, 'network', 'The upload failed: cannot reach the server.'));
      xhr.onabort = () => reject(new DOMException('The upload was cancelled.', 'AbortError'));
      if (signal) {
        if (signal.aborted) return reject(new DOMException('The upload was cancelled.', 'AbortError'));
        signal.addEventListener('abort', () => xhr.abort(), { once: true });
      }
      const form = new FormData();
      form.append('file', file);
      xhr.send(form);
    },
  );
  if (result.status === 401 && hooks && !noRenew && (await hooks.renew())) {
    return upload<T>(method, path, file, onProgress, signal, true);
  }
  const res = new Response(result.text || null, {
    status: result.status,
    headers: result.retryAfter ? { 'retry-after': result.retryAfter } : {},
  });
  if (!res.ok) throw await toError(res);
  onProgress(1);
  return (result.text ? JSON.parse(result.text) : undefined) as T;
}

/** A random key for `Idempotency-Key` (crypto.randomUUID needs a secure context). */
export function randomKey(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
