import { useEffect, useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { ApiError, errorMessage } from '../api/client';
import { posts } from '../api/endpoints';
import type { Post } from '../api/types';
import { CommentSection } from '../components/Comments';
import { PostCard } from '../components/PostCard';
import { ErrorBox, Spinner, displayName } from '../components/ui';
import { useInterval, useTitle } from '../lib/hooks';
import { REFETCH_MS } from '../components/Feed';

export function PostView({ id }: { id: string }) {
  const [post, setPost] = useState<Post | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [gone, setGone] = useState(false);
  const { route } = useLocation();
  useTitle(post ? `${displayName(post.author)}: ${post.text.slice(0, 40)}` : 'Post');

  const load = (quiet = false) =>
    posts.get(id).then(
      (p) => {
        setPost(p);
        setError(null);
      },
      (e) => {
        if (e instanceof ApiError && (e.status === 404 || e.status === 400)) setGone(true);
        else if (!quiet) setError(errorMessage(e));
      },
    );

  useEffect(() => {
    void load();
  }, [id]);
  useInterval(() => void load(true), REFETCH_MS, post !== null);

  useEffect(() => {
    if (post && location.hash === '#comments') document.getElementById('comments')?.scrollIntoView();
  }, [post !== null]);

  if (gone) {
    return (
      <div class="card">
        <h1>Post not found</h1>
        <p>This post does not exist, or it was deleted.</p>
        <a href="/">Back to your feed</a>
      </div>
    );
  }
  if (!post) return error ? <ErrorBox error={error} onRetry={() => void load()} /> : <Spinner label="Loading post…" />;
  return (
    <>
      <h1 class="visually-hidden">Post by {displayName(post.author)}</h1>
      <PostCard
        post={post}
        full
        update={(f) => setPost((p) => (p ? f(p) : p))}
        onDeleted={() => route('/', true)}
      />
      <CommentSection
        post={post}
        onCountChange={(d) => setPost((p) => (p ? { ...p, commentCount: Math.max(0, p.commentCount + d) } : p))}
      />
    </>
  );
}
