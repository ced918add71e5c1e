// Threaded comments: top-level comments oldest first, replies under their
// parent (loaded on demand, any depth), love, reply, and edit/delete for
// your own (the post's author may delete any comment on it).

import { useState } from 'preact/hooks';
import { errorMessage } from '../api/client';
import { comments as commentsApi, posts } from '../api/endpoints';
import type { Comment, CommentPage, Post } from '../api/types';
import { usePaged } from '../lib/hooks';
import { me, signedIn } from '../session';
import { Icon } from './Icon';
import { LoveButton, toggleLove } from './PostCard';
import { RichText } from './RichText';
import { SafetyMenu } from './Safety';
import { SuggestTextarea } from './SuggestTextarea';
import { Avatar, ErrorBox, Spinner, Time, displayName } from './ui';

const MAX_COMMENT = 2000;

function CommentForm({
  postId,
  parentId,
  label,
  onDone,
  onCancel,
  autoFocus,
}: {
  postId: string;
  parentId?: string;
  label: string;
  onDone: (c: Comment) => void;
  onCancel?: () => void;
  autoFocus?: boolean;
}) {
  const [text, setText] = useState('');
  const [sending, setSending] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function send() {
    if (!text.trim() || sending) return;
    setSending(true);
    setError(null);
    try {
      const c = await posts.comment(postId, text, parentId);
      setText('');
      onDone(c);
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setSending(false);
    }
  }
  if (!signedIn.value) {
    return (
      <p class="muted">
        <a href={`/login?next=${encodeURIComponent(`/p/${postId}`)}`}>Log in</a> to comment.
      </p>
    );
  }
  return (
    <form
      class="comment-form"
      onSubmit={(e) => {
        e.preventDefault();
        void send();
      }}
    >
      <SuggestTextarea label={label} hideLabel placeholder={label} value={text} onValue={setText} rows={2} maxLength={MAX_COMMENT} onSubmit={send} autoFocus={autoFocus} />
      <ErrorBox error={error} />
      <div class="row">
        <button type="submit" class="btn btn-primary btn-small" disabled={!text.trim() || sending}>
          {sending ? 'Sending…' : parentId ? 'Reply' : 'Comment'}
        </button>
        {onCancel && (
          <button type="button" class="btn btn-small" onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}

interface ItemProps {
  comment: Comment;
  post: Post;
  depth: number;
  update: (f: (c: Comment) => Comment) => void;
  onRemoved: (keptAsPlaceholder: boolean) => void;
  onPostCount: (delta: number) => void;
}

function CommentItem({ comment: c, post, depth, update, onRemoved, onPostCount }: ItemProps) {
  const myId = me.value?.id;
  const mine = myId === c.author.id;
  const canDelete = !c.deleted && (mine || myId === post.author.id);
  const [replying, setReplying] = useState(false);
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(c.text);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [open, setOpen] = useState(false);
  const [fresh, setFresh] = useState<Comment[]>([]);

  async function save() {
    setBusy(true);
    setError(null);
    try {
      const updated = await commentsApi.edit(c.id, draft);
      update(() => updated);
      setEditing(false);
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  }

  async function remove() {
    setBusy(true);
    setError(null);
    try {
      await commentsApi.remove(c.id);
      const keep = c.replyCount > 0;
      if (keep) update((x) => ({ ...x, deleted: true, text: '' }));
      onRemoved(keep);
      setConfirming(false);
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  }

  const nested = depth < 4;
  return (
    <li class={`comment${c.deleted ? ' deleted' : ''}`} data-comment-id={c.id}>
      <div class="comment-main">
        <Avatar user={c.author} size={32} />
        <div class="comment-body">
          <div class="comment-head">
            {c.deleted ? (
              <span class="muted">Deleted comment</span>
            ) : (
              <>
                <a href={`/u/${c.author.username}`} class="author">
                  {displayName(c.author)}
                </a>
                <span class="muted"> @{c.author.username} · </span>
                <Time iso={c.createdAt} />
                {c.editedAt && <span class="muted"> · edited</span>}
              </>
            )}
          </div>
          {editing ? (
            <div class="edit-box">
              <SuggestTextarea label="Edit comment" hideLabel value={draft} onValue={setDraft} rows={2} maxLength={MAX_COMMENT} autoFocus onSubmit={save} />
              <div class="row">
                <button type="button" class="btn btn-primary btn-small" disabled={busy || !draft.trim()} onClick={save}>
                  {busy ? 'Saving…' : 'Save'}
                </button>
                <button type="button" class="btn btn-small" onClick={() => { setEditing(false); setDraft(c.text); setError(null); }}>
                  Cancel
                </button>
              </div>
            </div>
          ) : c.deleted ? (
            <p class="muted">This comment was deleted.</p>
          ) : (
            <RichText text={c.text} />
          )}
          {!c.deleted && !editing && (
            <div class="comment-actions">
              <LoveButton what="comment" loved={c.lovedByMe} count={c.loveCount} onToggle={(on) => toggleLove(on, update, () => commentsApi.love(c.id, on))} />
              {signedIn.value && (
                <button type="button" class="action" aria-expanded={replying} onClick={() => setReplying(!replying)}>
                  <Icon name="reply" />
                  <span>Reply</span>
                </button>
              )}
              {mine && (
                <button type="button" class="action" onClick={() => { setDraft(c.text); setEditing(true); }}>
                  <Icon name="edit" />
                  <span>Edit</span>
                </button>
              )}
              {canDelete && (
                <button type="button" class="action" onClick={() => setConfirming(true)}>
                  <Icon name="trash" />
                  <span>Delete</span>
                </button>
              )}
              {!mine && (
                <span class="owner-actions">
                  <SafetyMenu
                    label={`the comment by ${displayName(c.author)}`}
                    report={{ type: 'comment', id: c.id, what: 'this comment' }}
                    user={c.author}
                  />
                </span>
              )}
            </div>
          )}
          {confirming && (
            <div class="confirm" role="group" aria-label="Confirm deletion">
              <span>Delete this comment?</span>
              <button type="button" class="btn btn-danger btn-small" disabled={busy} onClick={remove}>
                Delete comment
              </button>
              <button type="button" class="btn btn-small" onClick={() => setConfirming(false)}>
                Keep it
              </button>
            </div>
          )}
          <ErrorBox error={error} />
          {replying && (
            <CommentForm
              postId={post.id}
              parentId={c.id}
              label={`Reply to ${displayName(c.author)}`}
              autoFocus
              onCancel={() => setReplying(false)}
              onDone={(r) => {
                setReplying(false);
                update((x) => ({ ...x, replyCount: x.replyCount + 1 }));
                if (open) setFresh((f) => [...f, r]);
                else setOpen(true);
                onPostCount(1);
              }}
            />
          )}
        </div>
      </div>
      {c.replyCount > 0 && !open && (
        <button type="button" class="link-btn show-replies" aria-expanded="false" onClick={() => setOpen(true)}>
          Show {c.replyCount} {c.replyCount === 1 ? 'reply' : 'replies'}
        </button>
      )}
      {open && (
        <div class={nested ? 'replies' : 'replies flat'}>
          <Thread
            post={post}
            depth={depth + 1}
            fetchPage={(cursor) => commentsApi.replies(c.id, { cursor, limit: 20 })}
            keyName={`replies:${c.id}`}
            fresh={fresh}
            onCountChange={(d) => update((x) => ({ ...x, replyCount: Math.max(0, x.replyCount + d) }))}
            onPostCount={onPostCount}
          />
        </div>
      )}
    </li>
  );
}

function Thread({
  post,
  depth,
  fetchPage,
  keyName,
  fresh,
  onCountChange,
  onPostCount,
}: {
  post: Post;
  depth: number;
  fetchPage: (cursor: string | null) => Promise<CommentPage>;
  keyName: string;
  /** Comments just written here, shown after the loaded ones. */
  fresh: Comment[];
  onCountChange: (delta: number) => void;
  onPostCount: (delta: number) => void;
}) {
  const paged = usePaged<Comment>(fetchPage, keyName);
  const [removed, setRemoved] = useState<Set<string>>(new Set());
  const [local, setLocal] = useState<Record<string, Comment>>({});
  const loaded = new Set(paged.items.map((c) => c.id));
  const all = [...paged.items, ...(paged.done || paged.items.length === 0 ? fresh.filter((c) => !loaded.has(c.id)) : [])]
    .map((c) => local[c.id] ?? c)
    .filter((c) => !removed.has(c.id));
  return (
    <>
      <ul class="comments">
        {all.map((c) => (
          <CommentItem
            key={c.id}
            comment={c}
            post={post}
            depth={depth}
            update={(f) => setLocal((l) => ({ ...l, [c.id]: f(l[c.id] ?? c) }))}
            onRemoved={(kept) => {
              if (!kept) {
                setRemoved((r) => new Set(r).add(c.id));
                onCountChange(-1);
                if (depth > 0) onPostCount(-1);
              }
            }}
            onPostCount={onPostCount}
          />
        ))}
      </ul>
      {paged.loading && <Spinner label="Loading comments…" />}
      <ErrorBox error={paged.error} onRetry={paged.retry} />
      {!paged.loading && !paged.error && !paged.done && (
        <button type="button" class="link-btn" onClick={paged.loadMore}>
          {depth === 0 ? 'Load more comments' : 'Load more replies'}
        </button>
      )}
    </>
  );
}

/** The comments section of a post's page. */
export function CommentSection({ post, onCountChange }: { post: Post; onCountChange: (delta: number) => void }) {
  const [fresh, setFresh] = useState<Comment[]>([]);
  return (
    <section class="card comments-section" id="comments" aria-labelledby="comments-heading">
      <h2 id="comments-heading">
        Comments <span class="muted">({post.commentCount})</span>
      </h2>
      <CommentForm
        postId={post.id}
        label="Write a comment"
        onDone={(c) => {
          setFresh((f) => [...f, c]);
          onCountChange(1);
        }}
      />
      <Thread
        post={post}
        depth={0}
        fetchPage={(cursor) => posts.comments(post.id, { cursor, limit: 20 })}
        keyName={`comments:${post.id}`}
        fresh={fresh}
        onCountChange={onCountChange}
        onPostCount={onCountChange}
      />
      {post.commentCount === 0 && fresh.length === 0 && <p class="empty">No comments yet. Be the first.</p>}
    </section>
  );
}
