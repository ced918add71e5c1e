// The signed-in user and the cookie session's lifetime.
//
// The access and refresh tokens live in HttpOnly cookies the app never reads;
// it only knows when the access token expires (from `expiresIn`, kept in
// localStorage so every tab knows) and renews it a little before then with
// POST /api/auth/refresh. Refresh tokens are single use, so tabs take a Web
// Lock around the refresh and skip it when another tab has just done it.

import { computed, signal } from '@preact/signals';
import { ApiError, csrfToken, setSessionHooks } from './api/client';
import { auth, profile } from './api/endpoints';
import type { Profile, RegisterRequest, Session } from './api/types';
import { toast } from './toasts';

export type SessionStatus = 'loading' | 'signedIn' | 'signedOut' | 'unreachable';

export const me = signal<Profile | null>(null);
export const status = signal<SessionStatus>('loading');
export const signedIn = computed(() => status.value === 'signedIn' && me.value !== null);

const EXPIRY_KEY = 'starling.session.expiry'; // {"at": ms, "life": ms} of the access token
const EVENT_KEY = 'starling.session.event'; // "in:<user id>:<time>" | "out:<time>"
const LOCK = 'starling-session-refresh';

interface Expiry {
  at: number;
  life: number;
}

/**
 * The access token of the last session this tab received (login, sign-up or
 * refresh), for the chat socket's handshake. Null after a reload until the
 * next refresh: the socket then relies on the cookie.
 */
let token: { value: string; until: number } | null = null;

/** The access token if this tab holds one that is still valid for a while. */
export function accessToken(): string | null {
  return token && token.until - Date.now() > 5_000 ? token.value : null;
}

/** localStorage can be unavailable (some private modes): tabs then act alone. */
function stored(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function readExpiry(): Expiry | null {
  try {
    const v = JSON.parse(stored(EXPIRY_KEY) ?? 'null') as Expiry | null;
    return v && typeof v.at === 'number' && typeof v.life === 'number' ? v : null;
  } catch {
    return null;
  }
}

/** Renew this long before expiry: a minute, or a quarter of a short lifetime. */
function margin(e: Expiry) {
  return Math.min(60_000, e.life / 4);
}

function broadcast(event: string) {
  try {
    localStorage.setItem(EVENT_KEY, `${event}:${Date.now()}`);
  } catch {
    /* storage may be unavailable (private mode); tabs then act alone */
  }
}

let timer: ReturnType<typeof setTimeout> | undefined;

function schedule() {
  clearTimeout(timer);
  const e = readExpiry();
  if (!e || status.value !== 'signedIn') return;
  const delay = Math.max(1_000, e.at - Date.now() - margin(e));
  timer = setTimeout(() => void renew(false), delay);
}

function accept(s: Session) {
  // A refresh by cookie leaves the token in its HttpOnly cookie; the socket
  // then signs in with the cookie too.
  token = s.accessToken ? { value: s.accessToken, until: Date.now() + s.expiresIn * 1000 } : null;
  me.value = s.user;
  status.value = 'signedIn';
  try {
    localStorage.setItem(EXPIRY_KEY, JSON.stringify({ at: Date.now() + s.expiresIn * 1000, life: s.expiresIn * 1000 }));
  } catch {
    /* see broadcast */
  }
  schedule();
}

function becomeSignedOut() {
  clearTimeout(timer);
  token = null;
  me.value = null;
  status.value = 'signedOut';
  try {
    localStorage.removeItem(EXPIRY_KEY);
  } catch {
    /* see broadcast */
  }
}

let renewing: Promise<boolean> | null = null;

/**
 * Exchanges the refresh cookie for a new session. `force` after a 401; otherwise
 * it is skipped when the stored expiry is still comfortably ahead. Concurrent
 * callers share one attempt.
 */
export function renew(force: boolean): Promise<boolean> {
  renewing ??= doRenew(force).finally(() => {
    renewing = null;
  });
  return renewing;
}

async function doRenew(force: boolean): Promise<boolean> {
  const seen = stored(EXPIRY_KEY);
  const run = async (): Promise<boolean> => {
    const e = readExpiry();
    const otherTabRenewed = stored(EXPIRY_KEY) !== seen && e !== null && e.at > Date.now();
    if (otherTabRenewed || (!force && e && e.at - Date.now() > margin(e))) {
      schedule();
      return true;
    }
    if (!csrfToken()) {
      becomeSignedOut();
      return false;
    }
    try {
      accept(await auth.refresh());
      return true;
    } catch (err) {
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        // Suspended meanwhile: say so rather than just signing out.
        if (err.code === 'account_suspended') toast(err.message, 'error', undefined, 15_000);
        becomeSignedOut();
        broadcast('out');
        return false;
      }
      // The server is unreachable: keep the session and try again soon.
      clearTimeout(timer);
      timer = setTimeout(() => void renew(false), 15_000);
      return false;
    }
  };
  if ('locks' in navigator && navigator.locks) {
    return navigator.locks.request(LOCK, run);
  }
  return run();
}

async function ensureFresh() {
  if (status.value !== 'signedIn') return;
  const e = readExpiry();
  if (!e || e.at - Date.now() < 5_000) await renew(false);
}

setSessionHooks({
  ensureFresh,
  renew: async () => status.value === 'signedIn' && renew(true),
});

/** Finds out who is signed in (once, at start-up, and when another tab signs in). */
export async function boot(): Promise<void> {
  if (status.value === 'unreachable') status.value = 'loading';
  try {
    me.value = await profile.get();
    status.value = 'signedIn';
    if (readExpiry()) schedule();
    else void renew(true); // expiry unknown: renew now to learn it
  } catch (e) {
    if (e instanceof ApiError && e.status === 401 && csrfToken()) {
      await renewAtBoot(); // signed in, signed out, or unreachable
    } else if (e instanceof ApiError && e.status === 401) {
      becomeSignedOut();
    } else if (e instanceof ApiError && e.status === 0) {
      status.value = 'unreachable';
    } else {
      becomeSignedOut();
    }
  }
}

/** The access cookie is gone but a refresh cookie may remain: renew, still 'loading'. */
async function renewAtBoot(): Promise<boolean> {
  const ok = await renew(true);
  if (!ok && status.value === 'loading') status.value = 'unreachable';
  return ok;
}

export async function login(loginName: string, password: string) {
  accept(await auth.login(loginName, password));
  broadcast(`in:${me.value?.id}`);
}

/**
 * Signs up. Answers 'signedIn', or what the account waits for when the server
 * does not sign it in yet: 'pending' (a moderator's approval) or
 * 'verify_email' (the link in the mail).
 */
export async function register(body: {
  username: string;
  email: string;
  password: string;
  displayName?: string;
  inviteCode?: string;
}): Promise<string> {
  const answer = (await auth.register(body as RegisterRequest)) as Session | { status?: string; user?: undefined };
  if (!answer.user) return answer.status ?? 'pending';
  signInWith(answer as Session);
  return 'signedIn';
}

/** Takes a session the server answered (e.g. after confirming an email address). */
export function signInWith(s: Session) {
  accept(s);
  broadcast(`in:${me.value?.id}`);
}

/** Forgets the session here and in other tabs (after the account was deleted). */
export function signOutHere() {
  becomeSignedOut();
  broadcast('out');
}

export async function logout() {
  try {
    await auth.logout();
  } finally {
    becomeSignedOut();
    broadcast('out');
  }
}

/** Replaces the signed-in user's profile after an edit (avatar, bio, ...). */
export function updateMe(p: Profile) {
  me.value = p;
}

addEventListener('storage', (ev) => {
  if (ev.key === EXPIRY_KEY) {
    schedule();
  } else if (ev.key === EVENT_KEY && ev.newValue) {
    if (ev.newValue.startsWith('out:')) {
      becomeSignedOut();
    } else if (ev.newValue.startsWith('in:')) {
      const id = ev.newValue.split(':')[1];
      if (me.value?.id !== id) void boot();
    }
  }
});

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState !== 'visible' || status.value !== 'signedIn') return;
  const e = readExpiry();
  if (!e || e.at - Date.now() < margin(e)) void renew(false);
  else schedule();
});
