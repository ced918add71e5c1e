// Wire types of the chat (docs/chat.md).

import type { Author } from '../api/types';

export interface ChatMessage {
  /** Increasing: a room's messages sort by id. */
  id: string;
  roomId: string;
  sender: Author;
  /** "" once retracted. */
  text: string;
  clientMsgId: string;
  retracted: boolean;
  createdAt: string;
}

export interface ReadMark {
  userId: string;
  messageId: string;
  readAt: string;
}

export interface ChatRoom {
  id: string;
  kind: 'direct' | 'group';
  name: string | null;
  ownerId: string | null;
  members: Author[];
  lastMessage: ChatMessage | null;
  unreadCount: number;
  reads: ReadMark[];
  lastActivityAt: string;
  createdAt: string;
}

export interface UnreadCount {
  total: number;
  rooms: { roomId: string; count: number }[];
}

export interface Presence {
  userId: string;
  online: boolean;
  lastSeenAt: string | null;
}

export type RoomUpdateReason = 'created' | 'renamed' | 'member-added' | 'member-removed' | 'left' | 'deleted';

/** Server-to-client events and their payloads. */
export interface ServerEvents {
  'receive-message': ChatMessage;
  'new-message': { roomId: string; message: ChatMessage };
  'message-read': { roomId: string; userId: string; messageId: string; readAt: string };
  'message-retracted': { roomId: string; messageIds: string[] };
  typing: { roomId: string; userId: string; typing: boolean };
  presence: Presence;
  'room-updated': { roomId: string; room: ChatRoom | null; reason: RoomUpdateReason };
}

/** Compares message ids: numeric strings by value, others as text. */
export function compareIds(a: string, b: string): number {
  if (a.length !== b.length && /^\d+$/.test(a) && /^\d+$/.test(b)) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}
