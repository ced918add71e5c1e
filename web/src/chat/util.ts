// Small helpers shared by the messenger's pieces.

import type { Author } from '../api/types';
import { displayName } from '../components/ui';
import { senderIdOf, senderOf } from './sender';
import type { ChatMessage, ChatRoom } from './types';

export { senderIdOf, senderOf };

/** The other person in a direct room (null for groups). */
export function partnerOf(room: ChatRoom, myId: string | undefined): Author | null {
  if (room.kind !== 'direct') return null;
  return room.members.find((m) => m.id !== myId) ?? room.members[0] ?? null;
}

/** A group's name, or the partner's name for a direct room. */
export function roomName(room: ChatRoom, myId: string | undefined): string {
  if (room.kind === 'group') return room.name?.trim() || 'Unnamed group';
  const p = partnerOf(room, myId);
  return p ? displayName(p) : 'Conversation';
}

/** The name shown for a deleted account. */
export const DELETED_USER = 'Deleted user';

export function senderName(m: ChatMessage): string {
  const s = senderOf(m);
  return s ? displayName(s) : DELETED_USER;
}

/** One line describing a message in lists. */
export function excerpt(m: ChatMessage, myId: string | undefined, group: boolean): string {
  if (m.retracted) return 'This message was retracted';
  const text = m.text.replace(/\s+/g, ' ').trim();
  const short = text.length > 80 ? `${text.slice(0, 79)}…` : text;
  if (senderIdOf(m) === myId) return `You: ${short}`;
  return group || !senderOf(m) ? `${senderName(m)}: ${short}` : short;
}

/** A v4 UUID for `clientMsgId` (crypto.randomUUID needs a secure context). */
export function uuid(): string {
  if (typeof crypto.randomUUID === 'function' && isSecureContext) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** "Alice", "Alice and Bob", "Alice, Bob and Carol". */
export function listNames(names: string[]): string {
  if (names.length <= 1) return names[0] ?? '';
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}
