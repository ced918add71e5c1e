// The chat's REST calls (docs/chat.md).

import { get, request } from '../api/client';
import type { Cursor } from '../api/endpoints';
import type { ChatMessage, ChatMessagePage, ChatRoom, ChatRoomList, MessageIds, Presence, ReadMark, UnreadCount } from './types';

const enc = encodeURIComponent;

export const chat = {
  rooms: () => get<ChatRoomList>('/api/chat/rooms'),
  room: (id: string) => get<ChatRoom>(`/api/chat/rooms/${enc(id)}`),
  createGroup: (name: string, memberIds: string[]) =>
    request<ChatRoom>('POST', '/api/chat/rooms', { body: { name, memberIds } }),
  rename: (id: string, name: string) => request<ChatRoom>('PATCH', `/api/chat/rooms/${enc(id)}`, { body: { name } }),
  deleteRoom: (id: string) => request<void>('DELETE', `/api/chat/rooms/${enc(id)}`),
  addMember: (id: string, userId: string) =>
    request<ChatRoom>('POST', `/api/chat/rooms/${enc(id)}/members`, { body: { userId } }),
  /** The owner removes anyone; a member removing itself leaves. */
  removeMember: (id: string, userId: string) =>
    request<void>('DELETE', `/api/chat/rooms/${enc(id)}/members/${enc(userId)}`),
  /** Opens (creating on first use) the direct room with a user. */
  direct: (partnerId: string) => request<ChatRoom>('POST', `/api/chat/direct/${enc(partnerId)}`),
  /** Newest first. */
  messages: (id: string, p: Cursor = {}) => get<ChatMessagePage>(`/api/chat/rooms/${enc(id)}/messages`, { ...p }),
  send: (id: string, text: string, clientMsgId: string) =>
    request<ChatMessage>('POST', `/api/chat/rooms/${enc(id)}/messages`, { body: { text, clientMsgId } }),
  read: (id: string, messageId: string) =>
    request<ReadMark>('POST', `/api/chat/rooms/${enc(id)}/read`, { body: { messageId } }),
  /** Hidden for the caller only. */
  remove: (messageIds: string[]) =>
    request<MessageIds>('POST', '/api/chat/messages/remove', { body: { messageIds } }),
  /** The caller's own messages only. */
  retract: (messageIds: string[]) =>
    request<MessageIds>('POST', '/api/chat/messages/retract', { body: { messageIds } }),
  unread: () => get<UnreadCount>('/api/chat/unread-count'),
  search: (q: string, roomId?: string | null, p: Cursor = {}) =>
    get<ChatMessagePage>('/api/chat/search', { q, roomId, ...p }),
  presence: (userId: string) => get<Presence>(`/api/users/${enc(userId)}/presence`),
};
