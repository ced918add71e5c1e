import { useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { errorMessage } from '../api/client';
import { users } from '../api/endpoints';
import type { Page, User } from '../api/types';
import { usePaged, useSentinel } from '../lib/hooks';
import { me, signedIn } from '../session';
import { Avatar, Empty, ErrorBox, Spinner, displayName } from './ui';

/** Follow / Unfollow, showing the server's answer (counts included). */
export function FollowButton({ user, onChange }: { user: User; onChange: (u: User) => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const { route, url } = useLocation();
  if (me.value?.id === user.id) return null;
  async function click() {
    if (!signedIn.value) {
      route(`/login?next=${encodeURIComponent(url)}`);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      onChange(await (user.followedByMe ? users.unfollow(user.id) : users.follow(user.id)));
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  }
  return (
    <span class="follow">
      <button
        type="button"
        class={user.followedByMe ? 'btn' : 'btn btn-primary'}
        aria-pressed={user.followedByMe}
        aria-label={`${user.followedByMe ? 'Unfollow' : 'Follow'} ${displayName(user)}`}
        disabled={busy}
        onClick={click}
      >
        {user.followedByMe ? 'Unfollow' : 'Follow'}
      </button>
      {error && (
        <span class="inline-error" role="alert">
          {error}
        </span>
      )}
    </span>
  );
}

export function UserRow({ user, onChange }: { user: User; onChange: (u: User) => void }) {
  return (
    <li class="user-row">
      <a href={`/u/${user.username}`} class="user-link">
        <Avatar user={user} />
        <span>
          <span class="author">{displayName(user)}</span>
          <span class="muted"> @{user.username}</span>
          {user.bio && <span class="user-bio">{user.bio}</span>}
        </span>
      </a>
      <FollowButton user={user} onChange={onChange} />
    </li>
  );
}

/** A paged list of users with infinite scroll. */
export function UserList({
  fetchPage,
  keyName,
  empty,
}: {
  fetchPage: (cursor: string | null) => Promise<Page<User>>;
  keyName: string;
  empty: string;
}) {
  const paged = usePaged(fetchPage, keyName);
  const sentinel = useSentinel(paged.loadMore);
  return (
    <div>
      <ul class="user-list card">
        {paged.items.map((u) => (
          <UserRow key={u.id} user={u} onChange={(n) => paged.setItems((all) => all.map((x) => (x.id === n.id ? n : x)))} />
        ))}
        {!paged.loading && !paged.error && paged.items.length === 0 && (
          <li>
            <Empty>{empty}</Empty>
          </li>
        )}
      </ul>
      {paged.loading && <Spinner />}
      <ErrorBox error={paged.error} onRetry={paged.retry} />
      {!paged.loading && !paged.error && !paged.done && paged.items.length > 0 && (
        <button type="button" class="btn load-more" onClick={paged.loadMore}>
          Load more
        </button>
      )}
      <div ref={sentinel} class="sentinel" aria-hidden="true" />
    </div>
  );
}
