// Notifications while signed in: the unread count behind the bell, kept live
// by one EventSource on /api/notifications/stream, toasts for new ones, and
// the calls that mark them read.
//
// The stream is opened when someone signs in and closed when they sign out
// (or another user signs in). On any error it is closed and opened again
// after a growing pause; before reopening, the count is fetched through the
// API client, which also renews an expired session (an EventSource cannot).
// A new EventSource cannot send Last-Event-ID, so after a reconnect the
// first page of the list is read to hand over what arrived in between.

import { effect, signal } from '@preact/signals';
import { ApiError } from './api/client';
import { notifications as api } from './api/endpoints';
import type { Notification } from './api/types';
import { displayName } from './components/ui';
import { me, signedIn } from './session';
import { toast } from './toasts';

/** Unread notifications of the signed-in user (0 when signed out). */
export const unread = signal(0);
/** Whether the live stream is open (for a hint on the notifications page). */
export const live = signal(false);

type Listener = (n: Notification) => void;
const listeners = new Set<Listener>();

/** Calls `fn` with each notification that arrives live; returns the unsubscribe. */
export function onNotification(fn: Listener): () => void {
  listeners.add(fn);
  return () => void listeners.delete(fn);
}

function newer(a: string, b: string) {
  return BigInt(a) > BigInt(b);
}

/** "Bob loved your post", without the actor: the words after the name. */
export function action(n: Notification): string {
  switch (n.type) {
    case 'love':
      return n.comment ? 'loved your comment' : 'loved your post';
    case 'comment':
      return 'commented on your post';
    case 'reply':
      return 'replied to your comment';
    case 'mention':
      return n.comment ? 'mentioned you in a comment' : 'mentioned you in a post';
    case 'follow':
      return 'started following you';
    case 'message':
      return 'sent you a message';
    case 'report':
      return 'sent a report to the moderators';
    default:
      return 'did something';
  }
}

/** The whole sentence, e.g. for a toast. */
export function sentence(n: Notification): string {
  return `${displayName(n.actor)} ${action(n)}`;
}

/** Where a notification leads: its post (at the comments for comments), else the actor. */
export function target(n: Notification): string {
  if (n.type === 'message' && n.roomId) return `/messages/${n.roomId}`;
  if (n.type === 'report') {
    const id = (n as Notification & { reportId?: string | null }).reportId;
    return id ? `/moderation/reports/${encodeURIComponent(id)}` : '/moderation';
  }
  if (n.post) return `/p/${n.post.id}${n.comment && n.type !== 'love' ? '#comments' : ''}`;
  return `/u/${n.actor.username}`;
}

/** Marks one read and takes the server's new count. */
export async function markRead(n: Notification): Promise<void> {
  if (n.read) return;
  const { count } = await api.markRead(n.id);
  unread.value = count;
}

export async function markAllRead(): Promise<void> {
  const { count } = await api.markAllRead();
  unread.value = count;
}

/** Where push.ts keeps this browser's push subscription (read here so logging out need not load it). */
export const PUSH_KEY = 'starling.push';

/**
 * Before logging out: stop pushes for this user to this browser, so the
 * next person at this computer does not get them. Waits at most 3 s.
 */
export async function dropPush(): Promise<void> {
  const id = me.value?.id;
  let stored: { user?: string } | null = null;
  try {
    stored = JSON.parse(localStorage.getItem(PUSH_KEY) ?? 'null') as { user?: string } | null;
  } catch {
    return;
  }
  if (!id || stored?.user !== id) return;
  const off = import('./push').then((m) => m.disable(id)).catch(() => undefined);
  await Promise.race([off, new Promise((r) => setTimeout(r, 3_000))]);
}

// ---- the stream ----

const MIN_DELAY = 1_000;
const MAX_DELAY = 60_000;

let source: EventSource | null = null;
let timer: ReturnType<typeof setTimeout> | undefined;
let failures = 0;
/** The newest notification id seen on this connection or before, per user. */
let lastId: string | null = null;
let user: string | null = null;
/** Whether the next successful open follows a drop (so missed ones are read). */
let reconnecting = false;

/** Ids already handed out, so a catch-up after a reconnect repeats none. */
const seen = new Set<string>();

function deliver(n: Notification, announce: boolean) {
  if (seen.has(n.id)) return;
  seen.add(n.id);
  if (seen.size > 500) seen.delete(seen.values().next().value as string);
  if (lastId === null || newer(n.id, lastId)) lastId = n.id;
  for (const fn of listeners) fn(n);
  if (announce && location.pathname !== '/notifications') toast(sentence(n), 'info', target(n));
}

function open() {
  clearTimeout(timer);
  source?.close();
  const es = new EventSource('/api/notifications/stream');
  source = es;
  es.addEventListener('open', () => {
    if (source !== es) return;
    live.value = true;
    if (reconnecting) void catchUp();
    reconnecting = false;
  });
  es.addEventListener('unread-count', (ev) => {
    if (source !== es) return;
    failures = 0; // the server answered properly: the next drop starts the pauses afresh
    try {
      unread.value = (JSON.parse((ev as MessageEvent<string>).data) as { count: number }).count;
    } catch {
      /* a malformed event: the next one will do */
    }
  });
  es.addEventListener('notification', (ev) => {
    if (source !== es) return;
    try {
      deliver(JSON.parse((ev as MessageEvent<string>).data) as Notification, true);
    } catch {
      /* ignore a malformed event */
    }
  });
  es.addEventListener('error', () => {
    if (source !== es) return;
    // Close it rather than let the browser retry at its own fixed pace: an
    // expired session (401) would end it anyway, and a down server deserves
    // a growing pause.
    es.close();
    source = null;
    live.value = false;
    reconnecting = true;
    schedule();
  });
}

function schedule() {
  clearTimeout(timer);
  const base = Math.min(MAX_DELAY, MIN_DELAY * 2 ** failures);
  failures++;
  const delay = base / 2 + Math.random() * (base / 2);
  timer = setTimeout(() => void reconnect(), delay);
}

async function reconnect() {
  if (!signedIn.value) return;
  if (!navigator.onLine) {
    // Wait for the 'online' event (below) rather than spin.
    return;
  }
  try {
    // Renews the session first if it expired, and brings the badge up to date.
    unread.value = (await api.unreadCount()).count;
  } catch (e) {
    if (!signedIn.value) return;
    if (!(e instanceof ApiError) || e.status === 0 || e.status >= 500 || e.status === 429) {
      schedule();
      return;
    }
  }
  if (signedIn.value) open();
}

/** After a drop: hand the ones that arrived meanwhile to the listeners (no toasts for each). */
async function catchUp() {
  const since = lastId;
  if (since === null) return;
  try {
    const page = await api.list({ limit: 20 });
    const missed = page.items.filter((n) => newer(n.id, since) && !seen.has(n.id)).reverse();
    for (const n of missed) deliver(n, false);
    if (missed.length === 1) toast(sentence(missed[0]), 'info', target(missed[0]));
    else if (missed.length > 1) toast(`${missed.length} new notifications`, 'info', '/notifications');
  } catch {
    /* the list page reads them when opened */
  }
}

function stop() {
  clearTimeout(timer);
  source?.close();
  source = null;
  live.value = false;
  failures = 0;
  reconnecting = false;
  lastId = null;
  seen.clear();
  unread.value = 0;
}

effect(() => {
  const id = signedIn.value ? (me.value?.id ?? null) : null;
  if (id === user) return;
  stop();
  user = id;
  if (id !== null) open();
});

addEventListener('online', () => {
  if (user !== null && source === null) {
    failures = 0;
    void reconnect();
  }
});
