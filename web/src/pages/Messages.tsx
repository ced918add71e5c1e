// The messenger: the room list beside the open conversation on wide screens,
// one at a time on phones. Loaded lazily with socket.io-client.

import { signal } from '@preact/signals';
import { useEffect, useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { errorMessage } from '../api/client';
import { chat } from '../chat/api';
import { Conversation } from '../chat/Conversation';
import { NewGroup } from '../chat/Groups';
import { MessageSearch } from '../chat/MessageSearch';
import { chatState, onChat } from '../chat/socket';
import { presence, refreshUnread, unreadByRoom, watchPresence } from '../chat/store';
import { type ChatRoom, compareIds } from '../chat/types';
import { excerpt, partnerOf, roomName } from '../chat/util';
import { Icon } from '../components/Icon';
import { Avatar, Empty, ErrorBox, Spinner, Time } from '../components/ui';
import { useTitle } from '../lib/hooks';
import { me } from '../session';
import { toast } from '../toasts';
import { RequireAuth } from './Auth';

/** The caller's rooms, newest activity first (kept while the app runs). */
const rooms = signal<ChatRoom[] | null>(null);
const roomsError = signal<string | null>(null);

function sortRooms(list: ChatRoom[]) {
  return [...list].sort((a, b) => b.lastActivityAt.localeCompare(a.lastActivityAt) || compareIds(b.id, a.id));
}

function putRoom(r: ChatRoom) {
  const list = rooms.value ?? [];
  const old = list.find((x) => x.id === r.id);
  // room-updated broadcasts carry no per-user data: keep what we had.
  const merged = old ? { ...r, lastMessage: r.lastMessage ?? old.lastMessage } : r;
  rooms.value = sortRooms([...list.filter((x) => x.id !== r.id), merged]);
}

function dropRoom(id: string) {
  if (rooms.value) rooms.value = rooms.value.filter((x) => x.id !== id);
}

function loadRooms() {
  roomsError.value = null;
  chat.rooms().then(
    ({ items }) => {
      rooms.value = sortRooms(items);
    },
    (e) => {
      roomsError.value = errorMessage(e);
    },
  );
}

let listening = false;
/** Keeps the room list live (once, for the app's lifetime). */
function listen() {
  if (listening) return;
  listening = true;
  onChat('new-message', ({ roomId, message }) => {
    const r = rooms.value?.find((x) => x.id === roomId);
    if (!r) {
      chat.room(roomId).then(putRoom, () => {});
      return;
    }
    if (r.lastMessage && compareIds(r.lastMessage.id, message.id) > 0) return;
    putRoom({ ...r, lastMessage: message, lastActivityAt: message.createdAt > r.lastActivityAt ? message.createdAt : r.lastActivityAt });
  });
  onChat('message-retracted', ({ roomId, messageIds }) => {
    const r = rooms.value?.find((x) => x.id === roomId);
    if (r?.lastMessage && messageIds.includes(r.lastMessage.id)) {
      putRoom({ ...r, lastMessage: { ...r.lastMessage, retracted: true, text: '' } });
    }
  });
  onChat('room-updated', ({ roomId, room, reason }) => {
    if (room) {
      if (reason === 'created' && room.ownerId !== me.value?.id && !rooms.value?.some((x) => x.id === roomId)) toast(`You were added to ${roomName(room, me.value?.id)}`, 'info', `/messages/${roomId}`);
      putRoom(room);
    } else {
      dropRoom(roomId);
    }
  });
}

function RoomItem({ room, current }: { room: ChatRoom; current: boolean }) {
  const myId = me.value?.id;
  const partner = partnerOf(room, myId);
  useEffect(() => {
    if (partner) watchPresence(partner.id);
  }, [partner?.id]);
  const online = partner ? presence.value[partner.id]?.online : false;
  const unread = unreadByRoom.value[room.id] ?? 0;
  const name = roomName(room, myId);
  return (
    <li>
      <a class={`room${unread > 0 ? ' unread' : ''}`} href={`/messages/${encodeURIComponent(room.id)}`} aria-current={current ? 'page' : undefined}>
        <span class="presence-wrap">
          {partner ? (
            <Avatar user={partner} size={40} />
          ) : (
            <span class="group-avatar" aria-hidden="true">
              <Icon name="user" size={20} />
            </span>
          )}
          {online && <span class="presence-dot" title="Online" />}
        </span>
        <span class="room-main">
          <span class="room-top">
            <span class="room-name">
              {name}
              {online && <span class="visually-hidden"> (online)</span>}
            </span>
            {room.lastMessage && (
              <span class="room-time">
                <Time iso={room.lastMessage.createdAt} />
              </span>
            )}
          </span>
          <span class="room-bottom">
            <span class="room-last">{room.lastMessage ? excerpt(room.lastMessage, myId, room.kind === 'group') : room.kind === 'group' ? 'New group' : 'No messages yet'}</span>
            {unread > 0 && (
              <span class="unread-count" aria-label={`${unread} unread`}>
                {unread > 99 ? '99+' : unread}
              </span>
            )}
          </span>
        </span>
      </a>
    </li>
  );
}

function Messenger({ roomId }: { roomId: string | null }) {
  const [creating, setCreating] = useState(false);
  const { route } = useLocation();
  const list = rooms.value;
  const current = roomId ? (list?.find((r) => r.id === roomId) ?? null) : null;
  useTitle(current ? roomName(current, me.value?.id) : 'Messages');
  useEffect(() => {
    listen();
    loadRooms();
    refreshUnread(0);
  }, []);
  useEffect(() => {
    if (!roomId) return;
    // A room not in the list yet (just created, or opened by link): fetch it.
    if (list && !list.some((r) => r.id === roomId)) {
      chat.room(roomId).then(putRoom, () => {});
    }
  }, [roomId, list === null]);

  return (
    <div class={`messenger${roomId ? ' has-room' : ''}`}>
      <section class="rooms-pane card" aria-labelledby="messages-title">
        <div class="pane-head">
          <h1 id="messages-title">Messages</h1>
          <button type="button" class="btn btn-small" aria-expanded={creating} onClick={() => setCreating(!creating)}>
            New group
          </button>
        </div>
        {chatState.value === 'offline' && (
          <p class="conn-note" role="status">
            Not connected: new messages will appear when the connection is back.
          </p>
        )}
        {creating && <NewGroup onClose={() => setCreating(false)} />}
        <MessageSearch rooms={list ?? []} roomId={roomId} />
        <ErrorBox error={roomsError.value} onRetry={loadRooms} />
        {list === null ? (
          !roomsError.value && <Spinner label="Loading conversations…" />
        ) : list.length === 0 ? (
          <Empty>No conversations yet. Open someone's profile and choose Message, or start a group.</Empty>
        ) : (
          <ul class="room-list" aria-label="Conversations">
            {list.map((r) => (
              <RoomItem key={r.id} room={r} current={r.id === roomId} />
            ))}
          </ul>
        )}
      </section>
      <section class="conversation-pane card" aria-labelledby={roomId ? 'conv-title' : undefined} aria-label={roomId ? undefined : 'Conversation'}>
        {roomId ? (
          <Conversation key={roomId} roomId={roomId} initial={current} onRoom={putRoom} />
        ) : (
          <div class="conversation-empty">
            <Icon name="chat" size={40} />
            <p>Choose a conversation, or start one from someone's profile.</p>
            {list && list.length > 0 && (
              <button type="button" class="btn btn-small" onClick={() => route(`/messages/${encodeURIComponent(list[0].id)}`)}>
                Open the latest
              </button>
            )}
          </div>
        )}
      </section>
    </div>
  );
}

export function MessagesPage({ roomId }: { roomId: string | null }) {
  return (
    <RequireAuth>
      <Messenger roomId={roomId} />
    </RequireAuth>
  );
}
