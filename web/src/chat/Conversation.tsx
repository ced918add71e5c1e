// One conversation: history with scroll-back, live messages, optimistic
// sending, typing, read receipts, retracting and removing messages.

import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { errorMessage } from '../api/client';
import { isReadOnly } from '../api/safety';
import { type MenuItem, MenuButton } from '../components/Menu';
import { useReport } from '../components/Safety';
import { Icon } from '../components/Icon';
import { Avatar, ErrorBox, Spinner, Time, displayName } from '../components/ui';
import { relativeTime } from '../lib/time';
import { me } from '../session';
import { toast } from '../toasts';
import { chat } from './api';
import { GroupSettings } from './Groups';
import { chatState, emitAck, onChat, onConnect } from './socket';
import { presence, visibleRoom, watchPresence } from './store';
import { type ChatMessage, type ChatRoom, type ReadMark, compareIds } from './types';
import { listNames, partnerOf, roomName, senderIdOf, senderName, uuid } from './util';

const PAGE = 30;
/** Re-send `typing: true` at most this often while typing. */
const TYPING_EVERY = 2_000;
/** Stop "typing" after this long without input. */
const TYPING_IDLE = 3_000;
/** Forget someone's typing if nothing more is heard (their "stop" may be lost). */
const TYPING_FORGET = 6_000;

interface Pending {
  clientMsgId: string;
  text: string;
  state: 'sending' | 'failed';
  error?: string;
}

/** Inserts or replaces messages, keeping the list sorted by id. */
function merge(list: ChatMessage[], more: ChatMessage[]): ChatMessage[] {
  const byId = new Map(list.map((m) => [m.id, m]));
  for (const m of more) byId.set(m.id, m);
  return [...byId.values()].sort((a, b) => compareIds(a.id, b.id));
}

function useVisible() {
  const [visible, setVisible] = useState(document.visibilityState === 'visible');
  useEffect(() => {
    const on = () => setVisible(document.visibilityState === 'visible');
    document.addEventListener('visibilitychange', on);
    return () => document.removeEventListener('visibilitychange', on);
  }, []);
  return visible;
}

/** The small per-message menu (a menu button: Enter/Space open it, arrows move, Escape closes). */
function MessageMenu({
  message,
  mine,
  onRetract,
  onRemove,
  onReport,
}: {
  message: ChatMessage;
  mine: boolean;
  onRetract: () => void;
  onRemove: () => void;
  onReport: () => void;
}) {
  const items: MenuItem[] = [];
  if (mine && !message.retracted) items.push({ label: 'Retract for everyone', onSelect: onRetract });
  items.push({ label: 'Remove for me', onSelect: onRemove });
  if (!mine && !message.retracted) items.push({ label: 'Report message', onSelect: onReport });
  return (
    <MenuButton
      kind="msg"
      align={mine ? 'right' : 'left'}
      label={`Actions for the message sent ${relativeTime(message.createdAt)}${mine ? ' by you' : ` by ${senderName(message)}`}`}
      menuLabel="Message actions"
      items={items}
    />
  );
}

export function Conversation({ roomId, initial, onRoom }: { roomId: string; initial: ChatRoom | null; onRoom: (r: ChatRoom) => void }) {
  const myId = me.value?.id;
  const { route } = useLocation();
  const [room, setRoom] = useState<ChatRoom | null>(initial);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [missing, setMissing] = useState(false);
  const [messages, setMessages] = useState<ChatMessage[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [historyLoaded, setHistoryLoaded] = useState(false);
  const [older, setOlder] = useState<'idle' | 'loading' | 'error'>('idle');
  const [olderError, setOlderError] = useState<string | null>(null);
  const [pending, setPending] = useState<Pending[]>([]);
  const [reads, setReads] = useState<Record<string, string>>({});
  const [typers, setTypers] = useState<Record<string, number>>({});
  const [msgErrors, setMsgErrors] = useState<Record<string, string>>({});
  const [draft, setDraft] = useState('');
  const [sendError, setSendError] = useState<string | null>(null);
  const [settingsOpen, setSettingsOpen] = useState(false);
  const visible = useVisible();
  const report = useReport();
  const list = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const keepFromBottom = useRef<number | null>(null);
  const readSent = useRef<string | null>(null);
  const typing = useRef({ on: false, last: 0, idle: undefined as ReturnType<typeof setTimeout> | undefined });
  const gone = useRef(false);
  const leaving = useRef(false);

  const applyRoom = (r: ChatRoom) => {
    setRoom(r);
    onRoom(r);
    setReads((old) => {
      const next = { ...old };
      for (const mark of r.reads as ReadMark[]) {
        if (!next[mark.userId] || compareIds(mark.messageId, next[mark.userId]) > 0) next[mark.userId] = mark.messageId;
      }
      return next;
    });
  };

  const leavePage = (why: string) => {
    if (gone.current) return;
    gone.current = true;
    toast(why);
    route('/messages', true);
  };

  // The room and the newest page of history over REST; the socket joins for live events.
  const loadAll = () => {
    setLoadError(null);
    chat.room(roomId).then(applyRoom, (e) => {
      if ((e as { status?: number }).status === 404) setMissing(true);
      else setLoadError(errorMessage(e));
    });
    chat.messages(roomId, { limit: PAGE }).then(
      (page) => {
        setMessages((old) => merge(old, page.items));
        setCursor(page.nextCursor ?? null);
        setHistoryLoaded(true);
      },
      (e) => {
        if ((e as { status?: number }).status !== 404) setLoadError(errorMessage(e));
      },
    );
  };

  useEffect(() => {
    loadAll();
    const join = () => {
      emitAck<{ room: ChatRoom; unreadCount: number }>('join-room', { roomId }).then(
        (ack) => applyRoom(ack.room),
        () => {
          /* REST already loaded the room; live events still arrive by the personal channel */
        },
      );
    };
    join();
    const offs = [
      onConnect(() => {
        join();
        // Catch up with what was said while disconnected.
        chat.messages(roomId, { limit: PAGE }).then((page) => setMessages((old) => merge(old, page.items)), () => {});
      }),
      onChat('receive-message', (m) => receive(m)),
      onChat('new-message', ({ roomId: r, message }) => r === roomId && receive(message)),
      onChat('message-read', ({ roomId: r, userId, messageId }) => {
        if (r !== roomId) return;
        setReads((old) => (old[userId] && compareIds(old[userId], messageId) >= 0 ? old : { ...old, [userId]: messageId }));
      }),
      onChat('message-retracted', ({ roomId: r, messageIds }) => {
        if (r !== roomId) return;
        const ids = new Set(messageIds);
        setMessages((old) => old.map((m) => (ids.has(m.id) ? { ...m, retracted: true, text: '' } : m)));
      }),
      onChat('typing', ({ roomId: r, userId, typing: on }) => {
        if (r !== roomId || userId === me.value?.id) return;
        setTypers((old) => {
          const next = { ...old };
          if (on) next[userId] = Date.now();
          else delete next[userId];
          return next;
        });
      }),
      onChat('room-updated', ({ roomId: r, room: updated, reason }) => {
        if (r !== roomId) return;
        if (updated) applyRoom(updated);
        else if (!leaving.current) leavePage(reason === 'deleted' ? 'This conversation was deleted.' : 'You are no longer a member of this group.');
      }),
    ];
    return () => {
      offs.forEach((off) => off());
      stopTyping();
      emitAck('leave-room', { roomId }).catch(() => {});
    };
  }, [roomId]);

  function receive(m: ChatMessage) {
    if (m.roomId !== roomId) return;
    const from = senderIdOf(m);
    setPending((old) => old.filter((p) => p.clientMsgId !== m.clientMsgId || from !== me.value?.id));
    setMessages((old) => merge(old, [m]));
    setTypers((old) => {
      if (from === null || !(from in old)) return old;
      const next = { ...old };
      delete next[from];
      return next;
    });
  }

  // This conversation counts as read while it is on screen.
  useEffect(() => {
    if (!visible) return;
    visibleRoom.value = roomId;
    return () => {
      if (visibleRoom.value === roomId) visibleRoom.value = null;
    };
  }, [roomId, visible]);

  // Read receipts: the newest message, whenever it changes while visible.
  const newest = messages.length ? messages[messages.length - 1] : null;
  useEffect(() => {
    if (!visible || !newest || !myId) return;
    const mine = reads[myId];
    if ((mine && compareIds(mine, newest.id) >= 0) || readSent.current === newest.id) return;
    readSent.current = newest.id;
    emitAck<{ read: ReadMark }>('read-receipt', { roomId, messageId: newest.id }).then(
      ({ read }) => setReads((old) => ({ ...old, [read.userId]: read.messageId })),
      () => {
        readSent.current = null; // try again on the next change
      },
    );
  }, [newest?.id, visible, reads[myId ?? '']]);

  // Forget stale typing indicators.
  useEffect(() => {
    if (Object.keys(typers).length === 0) return;
    const t = setInterval(() => {
      const now = Date.now();
      setTypers((old) => {
        const left = Object.entries(old).filter(([, at]) => now - at < TYPING_FORGET);
        return left.length === Object.keys(old).length ? old : Object.fromEntries(left);
      });
    }, 1_000);
    return () => clearInterval(t);
  }, [typers]);

  // Presence of a direct partner.
  const partner = room ? partnerOf(room, myId) : null;
  useEffect(() => {
    if (partner) watchPresence(partner.id);
  }, [partner?.id]);

  // Scrolling: stay at the bottom for new messages; keep the place when older ones come in above.
  useLayoutEffect(() => {
    const el = list.current;
    if (!el) return;
    if (keepFromBottom.current !== null) {
      el.scrollTop = el.scrollHeight - keepFromBottom.current;
      keepFromBottom.current = null;
    } else if (atBottom.current) {
      el.scrollTop = el.scrollHeight;
    }
  }, [messages, pending, typers, reads, historyLoaded]);

  const loadOlder = () => {
    if (!cursor || older === 'loading') return;
    setOlder('loading');
    setOlderError(null);
    chat.messages(roomId, { cursor, limit: PAGE }).then(
      (page) => {
        const el = list.current;
        if (el) keepFromBottom.current = el.scrollHeight - el.scrollTop;
        setMessages((old) => merge(old, page.items));
        setCursor(page.nextCursor ?? null);
        setOlder('idle');
      },
      (e) => {
        setOlder('error');
        setOlderError(errorMessage(e));
      },
    );
  };

  const onScroll = () => {
    const el = list.current;
    if (!el) return;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 60;
    if (el.scrollTop < 80 && older === 'idle') loadOlder();
  };

  // Typing: announce at once, repeat while typing, stop when idle or on sending.
  function stopTyping() {
    const t = typing.current;
    clearTimeout(t.idle);
    if (t.on) {
      t.on = false;
      emitAck('typing', { roomId, typing: false }).catch(() => {});
    }
  }
  function onType(value: string) {
    setDraft(value);
    const t = typing.current;
    clearTimeout(t.idle);
    if (!value.trim()) {
      stopTyping();
      return;
    }
    const now = Date.now();
    if (!t.on || now - t.last > TYPING_EVERY) {
      t.on = true;
      t.last = now;
      emitAck('typing', { roomId, typing: true }).catch(() => {});
    }
    t.idle = setTimeout(stopTyping, TYPING_IDLE);
  }

  async function deliver(p: Pending) {
    setPending((old) => old.map((x) => (x.clientMsgId === p.clientMsgId ? { ...x, state: 'sending', error: undefined } : x)));
    try {
      const { message } = await emitAck<{ message: ChatMessage }>('send-message', { roomId, text: p.text, clientMsgId: p.clientMsgId });
      receive(message);
      setPending((old) => old.filter((x) => x.clientMsgId !== p.clientMsgId));
    } catch (e) {
      setPending((old) => old.map((x) => (x.clientMsgId === p.clientMsgId ? { ...x, state: 'failed', error: errorMessage(e) } : x)));
    }
  }

  function send(e: Event) {
    e.preventDefault();
    const text = draft.trim();
    if (!text) {
      setSendError('Write a message first.');
      return;
    }
    setSendError(null);
    stopTyping();
    const p: Pending = { clientMsgId: uuid(), text, state: 'sending' };
    setPending((old) => [...old, p]);
    setDraft('');
    atBottom.current = true;
    void deliver(p);
  }

  async function retract(m: ChatMessage) {
    setMsgErrors(({ [m.id]: _, ...rest }) => rest);
    try {
      const { messageIds } = await chat.retract([m.id]);
      const ids = new Set(messageIds);
      setMessages((old) => old.map((x) => (ids.has(x.id) ? { ...x, retracted: true, text: '' } : x)));
    } catch (err) {
      setMsgErrors((old) => ({ ...old, [m.id]: errorMessage(err) }));
    }
  }

  async function remove(m: ChatMessage) {
    setMsgErrors(({ [m.id]: _, ...rest }) => rest);
    try {
      const { messageIds } = await chat.remove([m.id]);
      const ids = new Set(messageIds);
      setMessages((old) => old.filter((x) => !ids.has(x.id)));
    } catch (err) {
      setMsgErrors((old) => ({ ...old, [m.id]: errorMessage(err) }));
    }
  }

  if (missing) {
    return (
      <div class="conversation-empty">
        <p>This conversation does not exist, or you are not in it.</p>
        <a href="/messages">Back to your messages</a>
      </div>
    );
  }

  const name = room ? roomName(room, myId) : '';
  const group = room?.kind === 'group';
  const others = room ? room.members.filter((m) => m.id !== myId) : [];
  // "Seen" under my newest message that someone else has read.
  const myLast = [...messages].reverse().find((m) => senderIdOf(m) === myId);
  const seenBy = myLast ? others.filter((m) => reads[m.id] && compareIds(reads[m.id], myLast.id) >= 0) : [];
  const typingNames = others.filter((m) => typers[m.id]).map(displayName);
  const p = partner ? presence.value[partner.id] : undefined;
  const readOnly = isReadOnly(room);

  return (
    <div class="conversation">
      <header class="conv-head">
        <a class="back" href="/messages" aria-label="Back to all messages">
          ← <span>Messages</span>
        </a>
        {room ? (
          <>
            {partner ? (
              <span class="presence-wrap">
                <Avatar user={partner} size={36} />
                {p?.online && <span class="presence-dot" aria-hidden="true" />}
              </span>
            ) : (
              <span class="group-avatar" aria-hidden="true">
                <Icon name="user" size={20} />
              </span>
            )}
            <div class="conv-title">
              <h2 id="conv-title">{name}</h2>
              <p class="muted small">
                {partner
                  ? p?.online
                    ? 'Online'
                    : p?.lastSeenAt
                      ? `Last seen ${relativeTime(p.lastSeenAt)} ago`.replace('now ago', 'just now')
                      : `@${partner.username}`
                  : `${room.members.length} members`}
              </p>
            </div>
            {group && (
              <button type="button" class="btn btn-small" aria-expanded={settingsOpen} aria-controls="group-settings" onClick={() => setSettingsOpen(!settingsOpen)}>
                {settingsOpen ? 'Close settings' : 'Group settings'}
              </button>
            )}
          </>
        ) : (
          <div class="conv-title">{!loadError && <span class="muted">Loading…</span>}</div>
        )}
      </header>
      {chatState.value === 'offline' && (
        <p class="conn-note" role="status">
          Reconnecting to the chat…
        </p>
      )}
      {group && room && settingsOpen && (
        <div id="group-settings">
          <GroupSettings room={room} onChange={applyRoom} onGone={leavePage} leaving={leaving} />
        </div>
      )}
      <ErrorBox error={loadError} onRetry={loadAll} />
      <div class="messages" ref={list} onScroll={onScroll} role="log" aria-label={name ? `Messages with ${name}` : 'Messages'} aria-live="polite" tabIndex={0}>
        {historyLoaded && cursor && (
          <div class="older">
            {older === 'loading' ? (
              <Spinner label="Loading older messages…" />
            ) : (
              <button type="button" class="btn btn-small" onClick={loadOlder}>
                Load older messages
              </button>
            )}
            <ErrorBox error={olderError} onRetry={loadOlder} />
          </div>
        )}
        {historyLoaded && !cursor && messages.length > 0 && <p class="muted small conv-start">This is the start of the conversation.</p>}
        {!historyLoaded && !loadError && <Spinner label="Loading messages…" />}
        {historyLoaded && messages.length === 0 && pending.length === 0 && (
          <p class="empty">No messages yet. Say hello!</p>
        )}
        <ol class="msg-list">
          {messages.map((m, i) => {
            const from = senderIdOf(m);
            const mine = from !== null && from === myId;
            const prev = messages[i - 1];
            const showName = (group && !mine && (!prev || senderIdOf(prev) !== from)) || from === null;
            return (
              <li key={m.id} class={`msg${mine ? ' mine' : ''}${m.retracted ? ' retracted' : ''}`} data-id={m.id}>
                <div class="bubble-row">
                  <div class="bubble">
                    {showName && <span class={`msg-sender${from === null ? ' deleted-user' : ''}`}>{senderName(m)}</span>}
                    {m.retracted ? <em class="muted">This message was retracted</em> : <span class="msg-text">{m.text}</span>}
                    <span class="msg-time">
                      <Time iso={m.createdAt} />
                    </span>
                  </div>
                  <MessageMenu
                    message={m}
                    mine={mine}
                    onRetract={() => void retract(m)}
                    onRemove={() => void remove(m)}
                    onReport={() => report.open({ type: 'message', id: m.id, what: `the message from ${senderName(m)}` })}
                  />
                </div>
                {msgErrors[m.id] && (
                  <span class="inline-error" role="alert">
                    {msgErrors[m.id]}
                  </span>
                )}
                {m === myLast && seenBy.length > 0 && pending.length === 0 && (
                  <span class="seen">{group ? `Seen by ${listNames(seenBy.map(displayName))}` : 'Seen'}</span>
                )}
              </li>
            );
          })}
          {pending.map((pm) => (
            <li key={pm.clientMsgId} class={`msg mine pending${pm.state === 'failed' ? ' failed' : ''}`}>
              <div class="bubble-row">
                <div class="bubble">
                  <span class="msg-text">{pm.text}</span>
                  <span class="msg-time">{pm.state === 'sending' ? 'Sending…' : 'Not sent'}</span>
                </div>
              </div>
              {pm.state === 'failed' && (
                <div class="send-failed" role="alert">
                  <span>{pm.error}</span>
                  <button type="button" class="btn btn-small" onClick={() => void deliver(pm)}>
                    Retry
                  </button>
                  <button type="button" class="btn btn-small btn-ghost" onClick={() => setPending((old) => old.filter((x) => x.clientMsgId !== pm.clientMsgId))}>
                    Discard
                  </button>
                </div>
              )}
            </li>
          ))}
        </ol>
      </div>
      <p class="typing" aria-live="polite">
        {typingNames.length > 0 && `${listNames(typingNames)} ${typingNames.length === 1 ? 'is' : 'are'} typing…`}
      </p>
      {readOnly ? (
        <p class="read-only-note" role="status">
          You can read this conversation but not write in it: one of you has blocked the other.
        </p>
      ) : (
        <form class="msg-composer" onSubmit={send}>
          <label for="msg-input" class="visually-hidden">
            Message {name}
          </label>
          <textarea
            id="msg-input"
            rows={1}
            value={draft}
            placeholder="Write a message"
            maxLength={4000}
            aria-invalid={sendError ? true : undefined}
            aria-describedby={sendError ? 'msg-input-err' : undefined}
            onInput={(e) => onType(e.currentTarget.value)}
            onBlur={stopTyping}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
                e.preventDefault();
                send(e);
              }
            }}
          />
          <button type="submit" class="btn btn-primary">
            Send
          </button>
        </form>
      )}
      {report.dialog}
      {sendError && (
        <p id="msg-input-err" class="field-error" role="alert">
          {sendError}
        </p>
      )}
    </div>
  );
}
