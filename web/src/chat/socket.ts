// The chat connection: one Socket.IO socket per signed-in tab (docs/chat.md).
//
// socket.io-client is loaded lazily, after the first paint, so it stays out
// of the initial bundle. The handshake carries the access token this tab got
// at sign-in or refresh, and the session cookie (withCredentials) for tabs
// that only have the cookie. A refusal because the token expired renews the
// session and connects again. Listeners register here, not on the socket, so
// they survive reconnects and a new socket after signing in again.

import { effect, signal } from '@preact/signals';
import type { Socket } from 'socket.io-client';
import { accessToken, me, renew, signedIn } from '../session';
import type { ServerEvents } from './types';

export type ChatState = 'off' | 'connecting' | 'online' | 'offline';

/** Whether the live connection is up (shown in the messenger). */
export const chatState = signal<ChatState>('off');

/** A refusal from the chat server (`{error: {code, message}}` in an ack), or no answer. */
export class ChatError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ChatError';
  }
}

type Listener = (payload: never) => void;
const listeners = new Map<string, Set<Listener>>();
const connectListeners = new Set<() => void>();

/** Listens to a server event; returns the function that stops listening. */
export function onChat<E extends keyof ServerEvents>(event: E, fn: (payload: ServerEvents[E]) => void): () => void {
  let set = listeners.get(event);
  if (!set) listeners.set(event, (set = new Set()));
  set.add(fn as Listener);
  return () => set.delete(fn as Listener);
}

/** Runs `fn` on every (re)connection, e.g. to join a room again or re-read counts. */
export function onConnect(fn: () => void): () => void {
  connectListeners.add(fn);
  return () => connectListeners.delete(fn);
}

function dispatch(event: string, payload: unknown) {
  for (const fn of [...(listeners.get(event) ?? [])]) {
    try {
      (fn as (p: unknown) => void)(payload);
    } catch (e) {
      console.error(`chat listener for ${event} failed`, e);
    }
  }
}

let socket: Socket | null = null;
let ready: Promise<Socket> | null = null;
let generation = 0;
let userId: string | null = null;
let retryTimer: ReturnType<typeof setTimeout> | undefined;

/** Says whether a connect_error is about the token (and a refresh may help). */
function aboutToken(message: string) {
  return /expired|token|unauthori[sz]ed|sign in|authenticat/i.test(message);
}

async function open(gen: number): Promise<Socket> {
  const { io } = await import('socket.io-client');
  if (gen !== generation) throw new ChatError('closed', 'Signed out.');
  const s = io({
    path: '/socket.io',
    withCredentials: true,
    auth: (cb) => {
      const token = accessToken();
      cb(token ? { token } : {});
    },
  });
  let renewals = 0;
  s.on('connect', () => {
    renewals = 0;
    chatState.value = 'online';
    for (const fn of [...connectListeners]) fn();
  });
  s.on('disconnect', (reason) => {
    chatState.value = 'offline';
    // The server closed the connection (e.g. the session ended): try once more
    // if this tab is still signed in; socket.io only reconnects by itself otherwise.
    if (reason === 'io server disconnect' && gen === generation) {
      clearTimeout(retryTimer);
      retryTimer = setTimeout(() => gen === generation && s.connect(), 2_000);
    }
  });
  s.on('connect_error', (err) => {
    chatState.value = 'offline';
    if (s.active) return; // a network problem: socket.io retries by itself
    // Refused by the server: renew an expired session, then connect again.
    clearTimeout(retryTimer);
    if (aboutToken(err.message) && renewals < 2) {
      renewals++;
      void renew(true).then((ok) => {
        if (ok && gen === generation) s.connect();
      });
    } else {
      retryTimer = setTimeout(() => gen === generation && s.connect(), 15_000);
    }
  });
  // The server closes a socket when its access token expires
  // ('session-expired'): renew the session and connect again at once.
  s.on('session-expired', () => {
    clearTimeout(retryTimer);
    void renew(true).then((ok) => {
      if (ok && gen === generation) s.connect();
    });
  });
  s.onAny((event: string, payload: unknown) => dispatch(event, payload));
  socket = s;
  chatState.value = 'connecting';
  return s;
}

function close() {
  generation++;
  clearTimeout(retryTimer);
  socket?.disconnect();
  socket = null;
  ready = null;
  chatState.value = 'off';
}

/** The socket, once loaded; rejects when signed out. */
function current(): Promise<Socket> {
  if (!ready) return Promise.reject(new ChatError('offline', 'Sign in to chat.'));
  return ready;
}

/**
 * Emits `event` and waits for the server's ack (at most `ms`). An ack of
 * `{error: {code, message}}` becomes a thrown ChatError with that message.
 */
export async function emitAck<T>(event: string, payload: unknown, ms = 10_000): Promise<T> {
  const s = await current();
  let res: unknown;
  try {
    res = await s.timeout(ms).emitWithAck(event, payload);
  } catch {
    throw new ChatError(
      'timeout',
      s.connected ? 'The chat server did not answer in time. Try again.' : 'Not connected to the chat server. Try again in a moment.',
    );
  }
  const err = (res as { error?: { code?: string; message?: string } } | null)?.error;
  if (err) throw new ChatError(err.code ?? 'error', err.message ?? 'The chat server refused that.');
  return res as T;
}

/** Connects while signed in (after the first paint), disconnects on sign-out. */
export function startChat() {
  effect(() => {
    const uid = signedIn.value ? (me.value?.id ?? null) : null;
    if (uid === userId) return;
    userId = uid;
    close();
    if (!uid) return;
    const gen = generation;
    chatState.value = 'connecting';
    ready = new Promise<void>((ok) => setTimeout(ok, 0)).then(() => open(gen));
    ready.catch(() => {
      if (gen === generation) chatState.value = 'offline';
    });
  });
}
