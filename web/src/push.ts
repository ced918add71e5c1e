// Web Push for this browser: permission, the service worker (/sw.js at the
// root scope), the browser's push subscription and its record on the server.
// Loaded only by the settings page.
//
// The server's id for this browser's subscription is kept in localStorage
// with the user it belongs to, so turning it off (or logging out) can DELETE
// it and another user signing in here does not see someone else's
// subscription as theirs.

import { ApiError, errorMessage } from './api/client';
import { push as api } from './api/endpoints';
import { PUSH_KEY as KEY } from './notifications';

interface Stored {
  user: string;
  id: string;
  endpoint: string;
}

/** An error meant for the person who flipped the switch. */
export class PushError extends Error {}

export const BLOCKED =
  'Notifications are blocked for this site. Allow them in your browser’s site settings, then try again.';

/** Why push cannot work here, or null if it can. */
export function unsupported(): string | null {
  if (!('serviceWorker' in navigator) || !('PushManager' in window) || !('Notification' in window)) {
    return 'This browser does not support push notifications.';
  }
  if (!window.isSecureContext) return 'Browser notifications need a secure (HTTPS) connection to this site.';
  return null;
}

export function permission(): NotificationPermission {
  return 'Notification' in window ? Notification.permission : 'denied';
}

function read(): Stored | null {
  try {
    const v = JSON.parse(localStorage.getItem(KEY) ?? 'null') as Stored | null;
    return v && typeof v.id === 'string' && typeof v.endpoint === 'string' ? v : null;
  } catch {
    return null;
  }
}

function store(v: Stored | null) {
  try {
    if (v) localStorage.setItem(KEY, JSON.stringify(v));
    else localStorage.removeItem(KEY);
  } catch {
    /* private mode: turning it off again will only unsubscribe the browser */
  }
}

async function subscription(): Promise<PushSubscription | null> {
  const reg = await navigator.serviceWorker.getRegistration('/');
  return (await reg?.pushManager.getSubscription()) ?? null;
}

/** Whether this browser gets pushes for `user`. */
export async function isOn(user: string): Promise<boolean> {
  if (unsupported() || permission() !== 'granted') return false;
  const sub = await subscription();
  const s = read();
  return sub !== null && s !== null && s.user === user && s.endpoint === sub.endpoint;
}

function bytes(base64url: string): Uint8Array<ArrayBuffer> {
  const b64 = base64url.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  const out = new Uint8Array(new ArrayBuffer(bin.length));
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** `p`, or an error with `message` if it takes longer than `ms`. */
function within<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(message)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        ok(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        fail(e);
      },
    );
  });
}

/** How long the browser's push service may take (it can hang when unreachable). */
const SUBSCRIBE_MS = 20_000;
const NO_ANSWER = 'its push service did not answer. Try again later.';

/** Asks for permission, registers the worker, subscribes and tells the server. */
export async function enable(user: string): Promise<void> {
  const why = unsupported();
  if (why) throw new PushError(why);
  let perm = permission();
  if (perm === 'default') perm = await Notification.requestPermission();
  if (perm === 'denied') throw new PushError(BLOCKED);
  if (perm !== 'granted') throw new PushError('You did not allow notifications, so they stay off.');

  let reg: ServiceWorkerRegistration;
  try {
    await navigator.serviceWorker.register('/sw.js', { scope: '/' });
    reg = await within(navigator.serviceWorker.ready, 15_000, 'it did not start.');
  } catch (e) {
    throw new PushError(`The notification service worker could not be installed: ${errorMessage(e)}`);
  }

  let key: string;
  try {
    key = (await api.vapidKey()).publicKey;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) throw new PushError('Push notifications are not set up on this server.');
    throw e;
  }
  const options: PushSubscriptionOptionsInit = { userVisibleOnly: true, applicationServerKey: bytes(key) };
  let sub: PushSubscription;
  try {
    sub = await within(reg.pushManager.subscribe(options), SUBSCRIBE_MS, NO_ANSWER);
  } catch (e) {
    // A subscription made with another server key must go before a new one.
    const old = await reg.pushManager.getSubscription().catch(() => null);
    if (!old) throw new PushError(`This browser could not subscribe to push messages: ${errorMessage(e)}`);
    try {
      await old.unsubscribe();
      sub = await within(reg.pushManager.subscribe(options), SUBSCRIBE_MS, NO_ANSWER);
    } catch (e2) {
      throw new PushError(`This browser could not subscribe to push messages: ${errorMessage(e2)}`);
    }
  }

  try {
    const rec = await api.subscribe(sub.toJSON());
    store({ user, id: rec.id, endpoint: sub.endpoint });
  } catch (e) {
    await sub.unsubscribe().catch(() => false);
    throw e;
  }
}

/** Removes the server's record and the browser's subscription. */
export async function disable(user: string): Promise<void> {
  const s = read();
  if (s && s.user === user) {
    try {
      await api.unsubscribe(s.id);
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) throw e; // already gone is fine
    }
  }
  store(null);
  const sub = await subscription().catch(() => null);
  await sub?.unsubscribe().catch(() => false);
}
