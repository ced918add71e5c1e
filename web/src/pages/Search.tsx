// Search people, posts and tags. The query lives in the address (?q=&in=),
// so results can be linked and the back button works.

import { useEffect, useMemo, useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { feeds, posts, users } from '../api/endpoints';
import { Feed } from '../components/Feed';
import { Icon } from '../components/Icon';
import { UserList } from '../components/Users';
import { Empty, Spinner } from '../components/ui';
import { useTitle } from '../lib/hooks';
import { asTag, suggestTags } from '../lib/tags';

type Tab = 'people' | 'posts' | 'tags';
const TABS: { id: Tab; label: string }[] = [
  { id: 'people', label: 'People' },
  { id: 'posts', label: 'Posts' },
  { id: 'tags', label: 'Tags' },
];

function TagResults({ q }: { q: string }) {
  const [found, setFound] = useState<string[] | null>(null);
  useEffect(() => {
    // No tag search in the API: combine the query itself, tags seen before,
    // and the tags of posts that match the words.
    const tag = asTag(q);
    const base = new Set<string>();
    if (tag) base.add(tag);
    for (const t of suggestTags(tag ?? q, 10)) base.add(t);
    setFound(null);
    let cancelled = false;
    posts.search(q.replace(/#/g, ' '), { limit: 50 }).then(
      (page) => {
        if (cancelled) return;
        const needle = (tag ?? q).toLowerCase();
        for (const p of page.items) for (const t of p.tags) if (t.includes(needle)) base.add(t);
        setFound([...base]);
      },
      () => !cancelled && setFound([...base]),
    );
    return () => {
      cancelled = true;
    };
  }, [q]);
  if (found === null) return <Spinner />;
  if (found.length === 0) return <Empty>No tags match “{q}”.</Empty>;
  return (
    <ul class="tag-list card">
      {found.map((t) => (
        <li key={t}>
          <a href={`/tags/${encodeURIComponent(t)}`}>
            <Icon name="tag" /> #{t}
          </a>
        </li>
      ))}
    </ul>
  );
}

export function Search() {
  const { query, route } = useLocation();
  const q = (query.q ?? '').trim();
  const tab: Tab = TABS.some((t) => t.id === query.in) ? (query.in as Tab) : 'people';
  const [draft, setDraft] = useState(q);
  useEffect(() => setDraft(q), [q]);
  useTitle(q ? `Search: ${q}` : 'Search');
  const postSource = useMemo(() => feeds.search(q), [q]);
  const href = (t: Tab, text = q) => `/search?${new URLSearchParams({ q: text, in: t })}`;

  return (
    <>
      <h1 class="page-title">Search</h1>
      <form
        role="search"
        class="search-form"
        onSubmit={(e) => {
          e.preventDefault();
          const text = draft.trim();
          const next = text.startsWith('#') && tab === 'people' ? 'tags' : tab;
          route(href(next, text));
        }}
      >
        <label for="search-q" class="visually-hidden">
          Search for people, posts or tags
        </label>
        <input id="search-q" type="search" value={draft} placeholder="People, posts or #tags" onInput={(e) => setDraft(e.currentTarget.value)} autoFocus={!q} />
        <button type="submit" class="btn btn-primary">
          Search
        </button>
      </form>
      <nav class="tabs" aria-label="What to search">
        {TABS.map((t) => (
          <a key={t.id} href={href(t.id)} aria-current={t.id === tab ? 'page' : undefined}>
            {t.label}
          </a>
        ))}
      </nav>
      {!q ? (
        <Empty>Type a name, some words or a #tag.</Empty>
      ) : tab === 'people' ? (
        <UserList keyName={`people:${q}`} fetchPage={(cursor) => users.search(q, { cursor })} empty={`Nobody matches “${q}”.`} />
      ) : tab === 'posts' ? (
        <Feed source={postSource} empty={`No posts contain “${q}”.`} />
      ) : (
        <TagResults q={q} />
      )}
    </>
  );
}
