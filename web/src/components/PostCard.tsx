import { useEffect, useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { errorMessage } from '../api/client';
import { posts } from '../api/endpoints';
import type { Post, PostVersion } from '../api/types';
import { me, signedIn } from '../session';
import { toast } from '../toasts';
import { Icon } from './Icon';
import { RichText } from './RichText';
import { SafetyMenu } from './Safety';
import { SuggestTextarea } from './SuggestTextarea';
import { Avatar, ErrorBox, Spinner, Time, displayName } from './ui';

/**
 * A love toggle with an optimistic update: the count changes at once and is
 * put back if the server refuses.
 */
export function LoveButton({
  loved,
  count,
  what,
  onToggle,
}: {
  loved: boolean;
  count: number;
  what: string;
  onToggle: (on: boolean) => Promise<void>;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const { route, url } = useLocation();
  async function click() {
    if (!signedIn.value) {
      route(`/login?next=${encodeURIComponent(url)}`);
      return;
    }
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      await onToggle(!loved);
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  }
  return (
    <span class="love">
      <button
        type="button"
        class={`action${loved ? ' loved' : ''}`}
        aria-pressed={loved}
        aria-label={`Love this ${what} (${count} ${count === 1 ? 'love' : 'loves'})`}
        onClick={click}
      >
        <Icon name="heart" filled={loved} />
        <span class="count">{count}</span>
      </button>
      {error && (
        <span class="inline-error" role="alert">
          {error}
        </span>
      )}
    </span>
  );
}

/** Loves or unloves optimistically through `update`, rolling back on failure. */
export async function toggleLove<T extends { lovedByMe: boolean; loveCount: number }>(
  on: boolean,
  update: (f: (x: T) => T) => void,
  call: () => Promise<T>,
) {
  update((x) => ({ ...x, lovedByMe: on, loveCount: Math.max(0, x.loveCount + (on ? 1 : -1)) }));
  try {
    const fresh = await call();
    update((x) => ({ ...x, lovedByMe: fresh.lovedByMe, loveCount: fresh.loveCount }));
  } catch (e) {
    update((x) => (x.lovedByMe === on ? { ...x, lovedByMe: !on, loveCount: Math.max(0, x.loveCount + (on ? -1 : 1)) } : x));
    throw e;
  }
}

function History({ id }: { id: string }) {
  const [items, setItems] = useState<PostVersion[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = () => {
    setError(null);
    posts.history(id).then((h) => setItems(h.items), (e) => setError(errorMessage(e)));
  };
  useEffect(load, [id]);
  return (
    <section class="history" aria-label="Edit history">
      <h3>Edit history</h3>
      <ErrorBox error={error} onRetry={load} />
      {items === null && !error && <Spinner />}
      {items && (
        <ol reversed>
          {[...items].reverse().map((v, i) => (
            <li key={v.version}>
              <div class="muted small">
                {i === 0 ? 'Current' : `Version ${v.version}`} · <Time iso={v.createdAt} />
              </div>
              <RichText text={v.text} />
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

export function PostMedia({ post }: { post: Post }) {
  if (post.media.length === 0) return null;
  return (
    <div class={`media-grid media-${post.media.length}`}>
      {post.media.map((m, i) => (
        <a key={m.id} href={m.url} target="_blank" rel="noopener" class="media-item">
          <img
            src={m.previewUrl}
            width={m.width}
            height={m.height}
            loading="lazy"
            alt={`Image ${i + 1} of ${post.media.length} in the post by ${displayName(post.author)}`}
          />
        </a>
      ))}
    </div>
  );
}

interface CardProps {
  post: Post;
  /** Applies a change to this post in the owner's state. */
  update: (f: (p: Post) => Post) => void;
  /** Called after the post was deleted. */
  onDeleted: () => void;
  /** On the post's own page: show the history toggle, no link to itself. */
  full?: boolean;
  /** Called after the author was blocked or muted from this card (their posts should go). */
  onAuthorHidden?: (authorId: string) => void;
}

export function PostCard({ post, update, onDeleted, full, onAuthorHidden }: CardProps) {
  const mine = me.value?.id === post.author.id;
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(post.text);
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [showHistory, setShowHistory] = useState(false);
  const link = `/p/${post.id}`;
  const authorLink = `/u/${post.author.username}`;

  async function save() {
    setSaving(true);
    setError(null);
    try {
      const fresh = await posts.edit(post.id, draft);
      update(() => fresh);
      setEditing(false);
      setShowHistory(false);
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setSaving(false);
    }
  }

  async function remove() {
    setSaving(true);
    setError(null);
    try {
      await posts.remove(post.id);
      toast('Post deleted');
      onDeleted();
    } catch (e) {
      setError(errorMessage(e));
      setSaving(false);
    }
  }

  return (
    <article class="card post" aria-labelledby={`post-${post.id}-author`} data-post-id={post.id}>
      <header class="post-head">
        <a href={authorLink} tabIndex={-1} aria-hidden="true">
          <Avatar user={post.author} />
        </a>
        <div class="post-meta">
          <a href={authorLink} class="author" id={`post-${post.id}-author`}>
            {displayName(post.author)}
          </a>
          <span class="muted"> @{post.author.username}</span>
          <span class="muted"> · </span>
          {full ? (
            <Time iso={post.createdAt} />
          ) : (
            <a href={link} class="muted" aria-label={`Open post from ${new Date(post.createdAt).toLocaleString()}`}>
              <Time iso={post.createdAt} />
            </a>
          )}
          {post.editedAt && <span class="muted"> · </span>}
          {post.editedAt &&
            (full ? (
              <button
                type="button"
                class="link-btn muted"
                aria-expanded={showHistory}
                title="Show the edit history"
                onClick={() => setShowHistory(!showHistory)}
              >
                edited
              </button>
            ) : (
              <span class="muted">edited</span>
            ))}
        </div>
      </header>
      {editing ? (
        <div class="edit-box">
          <SuggestTextarea label="Edit post" hideLabel value={draft} onValue={setDraft} rows={4} maxLength={5000} autoFocus onSubmit={save} />
          <div class="row">
            <button type="button" class="btn btn-primary" disabled={saving || !draft.trim()} onClick={save}>
              {saving ? 'Saving…' : 'Save'}
            </button>
            <button type="button" class="btn" disabled={saving} onClick={() => { setEditing(false); setDraft(post.text); setError(null); }}>
              Cancel
            </button>
          </div>
        </div>
      ) : (
        post.text && <RichText text={post.text} />
      )}
      <PostMedia post={post} />
      <footer class="post-actions">
        <LoveButton
          what="post"
          loved={post.lovedByMe}
          count={post.loveCount}
          onToggle={(on) => toggleLove(on, update, () => posts.love(post.id, on))}
        />
        <a class="action" href={`${link}#comments`} aria-label={`${post.commentCount} comments; open the post`}>
          <Icon name="comment" />
          <span class="count">{post.commentCount}</span>
        </a>
        {mine && !editing && (
          <span class="owner-actions">
            <button type="button" class="action" onClick={() => { setDraft(post.text); setEditing(true); setConfirming(false); }}>
              <Icon name="edit" />
              <span>Edit</span>
            </button>
            <button type="button" class="action" onClick={() => setConfirming(true)}>
              <Icon name="trash" />
              <span>Delete</span>
            </button>
          </span>
        )}
        {!mine && (
          <span class="owner-actions">
            <SafetyMenu
              label={`the post by ${displayName(post.author)}`}
              report={{ type: 'post', id: post.id, what: 'this post' }}
              user={post.author}
              onChange={(_, what) => (what === 'block' || what === 'mute') && onAuthorHidden?.(post.author.id)}
            />
          </span>
        )}
      </footer>
      {confirming && (
        <div class="confirm" role="group" aria-label="Confirm deletion">
          <span>Delete this post for everyone?</span>
          <button type="button" class="btn btn-danger" disabled={saving} onClick={remove}>
            {saving ? 'Deleting…' : 'Delete post'}
          </button>
          <button type="button" class="btn" disabled={saving} onClick={() => setConfirming(false)}>
            Keep it
          </button>
        </div>
      )}
      <ErrorBox error={error} />
      {showHistory && <History id={post.id} />}
    </article>
  );
}
