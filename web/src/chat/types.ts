// Wire types of the chat (docs/chat.md). The REST ones come from the
// server's OpenAPI document (see ../api/types.ts); the socket events' are
// written here, in terms of those.

import type { Answer } from '../api/types';
import type { components } from '../api/schema';

export type ChatMessage = components['schemas']['ChatMessage'];
export type ChatRoom = components['schemas']['ChatRoom'];
export type ReadMark = ChatRoom['reads'][number];
export type ChatRoomList = Answer<'/api/chat/rooms', 'get'>;
export type ChatMessagePage = Answer<'/api/chat/rooms/{id}/messages', 'get'>;
/** The ids of the messages removed or retracted. */
export type MessageIds = Answer<'/api/chat/messages/remove', 'post'>;
export type UnreadCount = Answer<'/api/chat/unread-count', 'get'>;
export type Presence = Answer<'/api/users/{id}/presence', 'get'>;

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
