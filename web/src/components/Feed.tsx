// A list of posts: infinite scroll through `nextCursor`, a "N new posts"
// banner fed by `?since=`, and a periodic re-read of the shown posts so that
// edits, deletions and counts stay current.

import { useEffect, useRef, useState } from 'preact/hooks';
import { posts as postsApi } from '../api/endpoints';
import type { FeedSource } from '../api/endpoints';
import type { Post } from '../api/types';
import { usePaged, useInterval, useSentinel } from '../lib/hooks';
import { noteTags } from '../lib/tags';
import { PostCard } from './PostCard';
import { Empty, ErrorBox, Spinner } from './ui';

/** How often to ask for new posts, and to re-read the shown ones. */
export const NEW_POSTS_POLL_MS = 30_000;
export const REFETCH_MS = 45_000;
/** Posts re-read per request (the API's limit), and at most this many shown posts. */
const REFETCH_BATCH = 100;
const REFETCH_MAX = 300;

/** Lets a page add a post it just created to the top of its feed. */
export interface FeedController {
  prepend?: (p: Post) => void;
}

function newer(a: string, b: string) {
  return BigInt(a) > BigInt(b);
}

export function Feed({
  source,
  empty,
  controller,
}: {
  source: FeedSource;
  empty: preact.ComponentChildren;
  controller?: FeedController;
}) {
  const paged = usePaged<Post>(async (cursor) => {
    const page = await source.page(cursor);
    noteTags(page.items);
    return page;
  }, source.key);
  const { items, setItems } = paged;
  // The newest post id the server has shown in this feed (not our own new posts,
  // which may be newer than posts others made meanwhile).
  const since = useRef<string | null>(null);
  const [pending, setPending] = useState<Post[]>([]);
  const [pendingMore, setPendingMore] = useState(false);
  const listRef = useRef<HTMLDivElement>(null);
  // Posts this page created itself: shown at once, never counted as "new".
  const ownFresh = useRef(new Set<string>());

  useEffect(() => {
    since.current = null;
    setPending([]);
    setPendingMore(false);
  }, [source.key]);

  useEffect(() => {
    for (const p of items) {
      if (since.current === null || newer(p.id, since.current)) {
        if (!ownFresh.current.has(p.id)) since.current = p.id;
      }
    }
  }, [items]);

  if (controller) {
    controller.prepend = (p: Post) => {
      ownFresh.current.add(p.id);
      setItems((old) => [p, ...old.filter((x) => x.id !== p.id)]);
    };
  }

  async function pollNew() {
    if (!source.newer || paged.loading || paged.error) return;
    try {
      // An empty feed has no newest post to ask from: look at its first page.
      const page = since.current === null ? await source.page(null) : await source.newer(since.current);
      const shown = new Set(items.map((p) => p.id));
      setPending(page.items.filter((p) => !shown.has(p.id)));
      setPendingMore(page.hasMore === true);
    } catch {
      /* try again at the next tick */
    }
  }

  async function refetch() {
    const ids = items.slice(0, REFETCH_MAX).map((p) => p.id);
    if (ids.length === 0) return;
    const fresh = new Map<string, Post>();
    try {
      for (let i = 0; i < ids.length; i += REFETCH_BATCH) {
        const page = await postsApi.refetch(ids.slice(i, i + REFETCH_BATCH));
        for (const p of page.items) fresh.set(p.id, p);
      }
    } catch {
      return; // keep what is shown; try again later
    }
    const asked = new Set(ids);
    setItems((old) => old.flatMap((p) => (asked.has(p.id) ? (fresh.has(p.id) ? [fresh.get(p.id) as Post] : []) : [p])));
  }

  useInterval(pollNew, NEW_POSTS_POLL_MS, source.newer !== null);
  useInterval(refetch, REFETCH_MS);

  function showPending() {
    if (pendingMore) {
      since.current = null;
      paged.reload();
    } else {
      const add = [...pending].sort((a, b) => (newer(a.id, b.id) ? -1 : 1));
      setItems((old) => {
        const shown = new Set(old.map((p) => p.id));
        return [...add.filter((p) => !shown.has(p.id)), ...old];
      });
      if (add.length > 0 && (since.current === null || newer(add[0].id, since.current))) since.current = add[0].id;
    }
    setPending([]);
    setPendingMore(false);
    listRef.current?.scrollIntoView({ block: 'start', behavior: 'smooth' });
    requestAnimationFrame(() => listRef.current?.querySelector<HTMLElement>('article a.author')?.focus({ preventScroll: true }));
  }

  const sentinel = useSentinel(paged.loadMore);
  const n = pending.length;

  return (
    <div class="feed" ref={listRef}>
      <div aria-live="polite">
        {(n > 0 || pendingMore) && (
          <button type="button" class="new-posts" onClick={showPending}>
            {pendingMore ? `${n}+ new posts` : `${n} new ${n === 1 ? 'post' : 'posts'}`} · show
          </button>
        )}
      </div>
      {items.map((p) => (
        <PostCard
          key={p.id}
          post={p}
          update={(f) => setItems((old) => old.map((x) => (x.id === p.id ? f(x) : x)))}
          onDeleted={() => setItems((old) => old.filter((x) => x.id !== p.id))}
          onAuthorHidden={(author) => setItems((old) => old.filter((x) => x.author.id !== author))}
        />
      ))}
      {paged.loading && <Spinner label={items.length ? 'Loading more posts…' : 'Loading posts…'} />}
      <ErrorBox error={paged.error} onRetry={paged.retry} />
      {!paged.loading && !paged.error && items.length === 0 && <Empty>{empty}</Empty>}
      {!paged.loading && !paged.error && !paged.done && items.length > 0 && (
        <button type="button" class="btn load-more" onClick={paged.loadMore}>
          Load more posts
        </button>
      )}
      {paged.done && items.length > 0 && <p class="end muted">You're all caught up.</p>}
      <div ref={sentinel} class="sentinel" aria-hidden="true" />
    </div>
  );
}
