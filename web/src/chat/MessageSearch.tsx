// Searching messages (GET /api/chat/search); results link to their room.

import { useState } from 'preact/hooks';
import { errorMessage } from '../api/client';
import { Empty, ErrorBox, Spinner, Time } from '../components/ui';
import { me } from '../session';
import { chat } from './api';
import type { ChatMessage, ChatRoom } from './types';
import { roomName, senderName } from './util';

export function MessageSearch({ rooms, roomId }: { rooms: ChatRoom[]; roomId: string | null }) {
  const [q, setQ] = useState('');
  const [onlyHere, setOnlyHere] = useState(false);
  const [results, setResults] = useState<{ q: string; items: ChatMessage[]; next: string | null } | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const scope = onlyHere && roomId ? roomId : null;

  async function run(cursor: string | null) {
    const text = q.trim();
    if (!text) {
      setResults(null);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const page = await chat.search(text, scope, { cursor, limit: 20 });
      setResults((old) => ({
        q: text,
        items: cursor && old ? [...old.items, ...page.items] : page.items,
        next: page.nextCursor ?? null,
      }));
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  }
  const nameOf = (id: string) => {
    const r = rooms.find((x) => x.id === id);
    return r ? roomName(r, me.value?.id) : 'A conversation';
  };

  return (
    <div class="msg-search">
      <form
        role="search"
        class="search-form"
        onSubmit={(e) => {
          e.preventDefault();
          void run(null);
        }}
      >
        <label for="chat-search" class="visually-hidden">
          Search messages
        </label>
        <input id="chat-search" type="search" value={q} placeholder="Search messages" onInput={(e) => setQ(e.currentTarget.value)} />
        <button type="submit" class="btn" disabled={busy}>
          Search
        </button>
      </form>
      {roomId && (
        <label class="check small">
          <input type="checkbox" checked={onlyHere} onChange={(e) => setOnlyHere(e.currentTarget.checked)} /> Only in the open conversation
        </label>
      )}
      <ErrorBox error={error} onRetry={() => void run(null)} />
      {busy && !results && <Spinner label="Searching…" />}
      {results && (
        <section class="search-results" aria-label="Messages found">
          <div class="row">
            <h2 class="small-title">Results for “{results.q}”</h2>
            <button
              type="button"
              class="link-btn small"
              onClick={() => {
                setResults(null);
                setQ('');
              }}
            >
              Clear search
            </button>
          </div>
          {results.items.length === 0 ? (
            <Empty>No messages contain “{results.q}”.</Empty>
          ) : (
            <ul class="room-list">
              {results.items.map((m) => (
                <li key={m.id}>
                  <a class="room" href={`/messages/${encodeURIComponent(m.roomId)}`}>
                    <span class="room-main">
                      <span class="room-top">
                        <span class="room-name">{nameOf(m.roomId)}</span>
                        <span class="room-time">
                          <Time iso={m.createdAt} />
                        </span>
                      </span>
                      <span class="room-last">
                        {senderName(m)}: {m.retracted ? 'This message was retracted' : m.text}
                      </span>
                    </span>
                  </a>
                </li>
              ))}
            </ul>
          )}
          {results.next && (
            <button type="button" class="btn btn-small load-more" disabled={busy} onClick={() => void run(results.next)}>
              More results
            </button>
          )}
        </section>
      )}
    </div>
  );
}
