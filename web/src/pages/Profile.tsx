import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError, errorMessage } from '../api/client';
import { feeds, users } from '../api/endpoints';
import { MessageButton } from '../chat/MessageButton';
import type { User } from '../api/types';
import { Feed } from '../components/Feed';
import { relation, relations } from '../api/safety';
import { SafetyMenu } from '../components/Safety';
import { FollowButton, UserList } from '../components/Users';
import { Avatar, ErrorBox, Spinner, displayName } from '../components/ui';
import { useTitle } from '../lib/hooks';
import { me } from '../session';
import { toast } from '../toasts';

function useUser(username: string) {
  const [user, setUser] = useState<User | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [missing, setMissing] = useState(false);
  const load = () => {
    setError(null);
    users.byUsername(username).then(setUser, (e) => {
      if (e instanceof ApiError && (e.status === 404 || e.status === 400)) setMissing(true);
      else setError(errorMessage(e));
    });
  };
  useEffect(load, [username]);
  // Your own profile follows your edits (avatar, bio) at once.
  const mine = me.value;
  const shown = user && mine && mine.id === user.id ? { ...user, displayName: mine.displayName, bio: mine.bio, avatarUrl: mine.avatarUrl } : user;
  return { user: shown, setUser, error, missing, load };
}

function NoSuchUser({ username }: { username: string }) {
  return (
    <div class="card">
      <h1>No such user</h1>
      <p>There is nobody called @{username} here.</p>
      <a href="/search">Search for people</a>
    </div>
  );
}

export function ProfilePage({ username }: { username: string }) {
  const { user, setUser, error, missing, load } = useUser(username);
  useTitle(user ? `${displayName(user)} (@${user.username})` : `@${username}`);
  const source = useMemo(() => (user ? feeds.user(user.id) : null), [user?.id]);
  if (missing) return <NoSuchUser username={username} />;
  if (!user) return error ? <ErrorBox error={error} onRetry={load} /> : <Spinner label="Loading profile…" />;
  const isMe = me.value?.id === user.id;
  const rel = relation(user);
  async function unblock() {
    if (!user) return;
    try {
      setUser(await relations.block(user.id, false));
      toast(`You unblocked @${user.username}`);
    } catch (e) {
      toast(errorMessage(e), 'error');
    }
  }
  return (
    <>
      <section class="card profile" aria-labelledby="profile-name">
        <Avatar user={user} size={96} />
        <div class="profile-info">
          <h1 id="profile-name">{displayName(user)}</h1>
          <p class="muted">
            @{user.username}
            {rel.blocking && <span class="state-tag state-blocked">Blocked</span>}
            {rel.muting && <span class="state-tag">Muted</span>}
          </p>
          {user.bio && <p class="bio">{user.bio}</p>}
          <p class="counts">
            <a href={`/u/${user.username}/followers`}>
              <strong>{user.followerCount}</strong> {user.followerCount === 1 ? 'follower' : 'followers'}
            </a>
            <a href={`/u/${user.username}/following`}>
              <strong>{user.followingCount}</strong> following
            </a>
            <span class="muted">Joined {new Date(user.createdAt).toLocaleDateString(undefined, { month: 'long', year: 'numeric' })}</span>
          </p>
        </div>
        <div class="profile-actions">
          {isMe ? (
            <a class="btn" href="/settings">
              Edit profile
            </a>
          ) : (
            <>
              {rel.blocking ? (
                <button type="button" class="btn" aria-label={`Unblock ${displayName(user)}`} onClick={unblock}>
                  Unblock
                </button>
              ) : (
                <>
                  <FollowButton user={user} onChange={setUser} />
                  <MessageButton user={user} />
                </>
              )}
              <SafetyMenu
                label={`@${user.username}`}
                report={{ type: 'user', id: user.id, what: `@${user.username}` }}
                user={user}
                state={rel}
                onChange={(u) => setUser(u)}
              />
            </>
          )}
        </div>
      </section>
      <h2 class="section-title">Posts</h2>
      {/* A block hides their posts (and unblocking shows them): the list starts afresh. */}
      {source && <Feed key={rel.blocking ? 'blocked' : 'shown'} source={source} empty={isMe ? 'You have not posted yet.' : rel.blocking ? `You blocked @${user.username}: their posts are hidden.` : `@${user.username} has not posted yet.`} />}
    </>
  );
}

export function FollowListPage({ username, which }: { username: string; which: 'followers' | 'following' }) {
  const { user, error, missing, load } = useUser(username);
  const title = which === 'followers' ? 'Followers' : 'Following';
  useTitle(`${title} of @${username}`);
  if (missing) return <NoSuchUser username={username} />;
  if (!user) return error ? <ErrorBox error={error} onRetry={load} /> : <Spinner />;
  return (
    <>
      <p class="crumbs">
        <a href={`/u/${user.username}`}>← {displayName(user)}</a>
      </p>
      <h1 class="page-title">
        {which === 'followers' ? `People following ${displayName(user)}` : `People ${displayName(user)} follows`}
      </h1>
      <nav class="tabs" aria-label="Follow lists">
        <a href={`/u/${user.username}/followers`} aria-current={which === 'followers' ? 'page' : undefined}>
          Followers ({user.followerCount})
        </a>
        <a href={`/u/${user.username}/following`} aria-current={which === 'following' ? 'page' : undefined}>
          Following ({user.followingCount})
        </a>
      </nav>
      <UserList
        keyName={`${which}:${user.id}`}
        fetchPage={(cursor) => (which === 'followers' ? users.followers(user.id, { cursor }) : users.following(user.id, { cursor }))}
        empty={which === 'followers' ? 'No followers yet.' : 'Not following anyone yet.'}
      />
    </>
  );
}
