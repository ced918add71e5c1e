// Your notifications: newest first with infinite scroll, unread ones marked,
// "All" / "Unread" tabs (kept in the address as ?unread=1), new ones from the
// live stream added at the top. Opening one marks it read.

import { useEffect, useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { errorMessage } from '../api/client';
import { notifications as api } from '../api/endpoints';
import type { Notification, NotificationType } from '../api/types';
import { Icon } from '../components/Icon';
import type { IconName } from '../components/Icon';
import { Avatar, Empty, ErrorBox, Spinner, Time, displayName } from '../components/ui';
import { usePaged, useSentinel, useTitle } from '../lib/hooks';
import { action, markAllRead, markRead, onNotification, target, unread } from '../notifications';
import { toast } from '../toasts';
import { RequireAuth } from './Auth';

// Every kind the app knows; `type` is any string, others get the bell.
const KIND_ICON: Partial<Record<string, IconName>> = {
  love: 'heart',
  comment: 'comment',
  reply: 'reply',
  mention: 'at',
  follow: 'user',
  message: 'comment',
  report: 'shield',
} satisfies Record<NotificationType, IconName>;

function excerpt(n: Notification): string | null {
  if (n.type === 'follow' || n.type === 'message' || n.type === 'report') return null;
  return (n.comment ?? n.post)?.excerpt || null;
}

function Item({ n, onRead }: { n: Notification; onRead: (n: Notification) => void }) {
  const [error, setError] = useState<string | null>(null);
  const quote = excerpt(n);
  const text = `${displayName(n.actor)} ${action(n)}`;
  async function mark() {
    setError(null);
    try {
      await markRead(n);
      onRead(n);
    } catch (e) {
      setError(errorMessage(e));
    }
  }
  return (
    <li class={`notif${n.read ? '' : ' unread'}`} data-notification-id={n.id}>
      <a
        class="notif-link"
        href={target(n)}
        onClick={() => {
          if (n.read) return;
          // The page changes at once; the request finishes meanwhile.
          onRead(n);
          markRead(n).catch((e: unknown) => toast(`Could not mark it read: ${errorMessage(e)}`, 'error'));
        }}
      >
        <span class="notif-who">
          <Avatar user={n.actor} size={40} />
          <span class={`notif-kind kind-${n.type}`} aria-hidden="true">
            <Icon name={KIND_ICON[n.type] ?? 'bell'} size={12} filled={n.type === 'love'} />
          </span>
        </span>
        <span class="notif-body">
          <span class="notif-text">
            {!n.read && <span class="visually-hidden">Unread: </span>}
            <strong>{displayName(n.actor)}</strong> {action(n)}
          </span>
          {quote && <span class="notif-excerpt">{quote}</span>}
          <span class="notif-time muted small">
            <Time iso={n.createdAt} />
          </span>
        </span>
        {!n.read && <span class="unread-dot" aria-hidden="true" />}
      </a>
      {!n.read && (
        <button type="button" class="icon-btn notif-mark" aria-label={`Mark as read: ${text}`} title="Mark as read" onClick={mark}>
          <Icon name="check" size={18} />
        </button>
      )}
      {error && (
        <span class="inline-error notif-error" role="alert">
          {error}
        </span>
      )}
    </li>
  );
}

function List() {
  const { query } = useLocation();
  const unreadOnly = query.unread === '1';
  const paged = usePaged((cursor) => api.list({ cursor, limit: 20, unreadOnly }), unreadOnly ? 'unread' : 'all');
  const { items, setItems } = paged;
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const sentinel = useSentinel(paged.loadMore);
  const count = unread.value;

  // New ones from the live stream go on top.
  useEffect(
    () => onNotification((n) => setItems((old) => (old.some((x) => x.id === n.id) ? old : [n, ...old]))),
    [],
  );
  // Read elsewhere (another tab, "mark all" there): nothing shown is unread.
  useEffect(() => {
    if (count === 0) setItems((old) => (old.some((n) => !n.read) ? old.map((n) => ({ ...n, read: true })) : old));
  }, [count]);

  const readOne = (n: Notification) => setItems((old) => old.map((x) => (x.id === n.id ? { ...x, read: true } : x)));
  const anyUnread = count > 0 || items.some((n) => !n.read);

  async function readAll() {
    setBusy(true);
    setError(null);
    try {
      await markAllRead();
      setItems((old) => old.map((n) => ({ ...n, read: true })));
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <div class="page-head">
        <h1 class="page-title">Notifications</h1>
        <button type="button" class="btn btn-small" disabled={busy || !anyUnread} onClick={readAll}>
          {busy ? 'Marking…' : 'Mark all read'}
        </button>
      </div>
      <ErrorBox error={error} onRetry={readAll} />
      <nav class="tabs" aria-label="Which notifications">
        <a href="/notifications" aria-current={unreadOnly ? undefined : 'page'}>
          All
        </a>
        <a href="/notifications?unread=1" aria-current={unreadOnly ? 'page' : undefined}>
          Unread{count > 0 ? ` (${count > 99 ? '99+' : count})` : ''}
        </a>
      </nav>
      {items.length > 0 && (
        <ul class="card notif-list" aria-label={unreadOnly ? 'Unread notifications' : 'Notifications'}>
          {items.map((n) => (
            <Item key={n.id} n={n} onRead={readOne} />
          ))}
        </ul>
      )}
      {paged.loading && <Spinner label={items.length ? 'Loading more notifications…' : 'Loading notifications…'} />}
      <ErrorBox error={paged.error} onRetry={paged.retry} />
      {!paged.loading && !paged.error && items.length === 0 && (
        <Empty>
          {unreadOnly
            ? 'No unread notifications. You are all caught up.'
            : 'No notifications yet. When someone loves or comments on your posts, mentions you or follows you, it shows up here.'}
        </Empty>
      )}
      {!paged.loading && !paged.error && !paged.done && items.length > 0 && (
        <button type="button" class="btn load-more" onClick={paged.loadMore}>
          Load more notifications
        </button>
      )}
      {paged.done && items.length > 0 && <p class="end muted">That's all of them.</p>}
      <div ref={sentinel} class="sentinel" aria-hidden="true" />
    </>
  );
}

export function Notifications() {
  useTitle('Notifications');
  return (
    <RequireAuth>
      <List />
    </RequireAuth>
  );
}

export default Notifications;
