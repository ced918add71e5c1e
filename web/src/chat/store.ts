// Chat state every page shares: unread counts (the messenger's nav badge),
// who is online, and which conversation is on screen.

import { computed, signal } from '@preact/signals';
import { me } from '../session';
import { chat } from './api';
import { onChat, onConnect } from './socket';
import type { Presence } from './types';
import { senderIdOf } from './sender';

/** Unread messages per room, from GET /api/chat/unread-count and live events. */
export const unreadByRoom = signal<Record<string, number>>({});
/** The total the server reported, kept live by events. */
const total = signal(0);
export const unreadTotal = computed(() => total.value);

/** The room whose conversation is open in a visible tab (its messages count as read). */
export const visibleRoom = signal<string | null>(null);

let refreshTimer: ReturnType<typeof setTimeout> | undefined;

/** Re-reads the counts (soon, once for a burst of events). */
export function refreshUnread(delay = 200) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    chat.unread().then(
      (u) => {
        const rooms: Record<string, number> = {};
        for (const r of u.rooms) rooms[r.roomId] = r.count;
        unreadByRoom.value = rooms;
        total.value = u.total;
      },
      () => {
        /* keep the last counts; the next event or reconnection tries again */
      },
    );
  }, delay);
}

onConnect(() => refreshUnread(0));

/** Messages already counted: a retried send is announced again with the same id. */
const counted = new Set<string>();

onChat('new-message', ({ roomId, message }) => {
  if (senderIdOf(message) === me.value?.id || counted.has(message.id)) return;
  counted.add(message.id);
  if (counted.size > 1000) counted.delete(counted.values().next().value as string);
  if (visibleRoom.value === roomId && document.visibilityState === 'visible') return;
  unreadByRoom.value = { ...unreadByRoom.value, [roomId]: (unreadByRoom.value[roomId] ?? 0) + 1 };
  total.value += 1;
});

onChat('message-read', ({ userId }) => {
  if (userId === me.value?.id) refreshUnread();
});

onChat('room-updated', ({ room }) => {
  if (!room) refreshUnread();
});

onChat('message-retracted', () => refreshUnread());

/** Last known presence per user. */
export const presence = signal<Record<string, Presence>>({});
const asked = new Set<string>();

/** Makes sure the presence of `userId` is known (asks the server once). */
export function watchPresence(userId: string) {
  if (asked.has(userId)) return;
  asked.add(userId);
  chat.presence(userId).then(
    (p) => {
      if (!presence.value[userId]) presence.value = { ...presence.value, [userId]: p };
    },
    () => asked.delete(userId),
  );
}

onChat('presence', (p) => {
  presence.value = { ...presence.value, [p.userId]: p };
});

onConnect(() => {
  // Presence may have changed while disconnected: ask again for those shown.
  const known = [...asked];
  asked.clear();
  presence.value = {};
  known.forEach(watchPresence);
});
