// Tags the app has seen in posts, for #tag suggestions (the API has no tag
// search): counted as they appear, kept for the next visit.

import type { Post } from '../api/types';

const KEY = 'starling.knownTags';
const known = new Map<string, number>();

try {
  for (const [t, n] of JSON.parse(localStorage.getItem(KEY) ?? '[]') as [string, number][]) known.set(t, n);
} catch {
  /* ignore a damaged entry */
}

let saveTimer: ReturnType<typeof setTimeout> | undefined;

export function noteTags(posts: Post[]) {
  let changed = false;
  for (const p of posts) {
    for (const t of p.tags) {
      known.set(t, (known.get(t) ?? 0) + 1);
      changed = true;
    }
  }
  if (!changed) return;
  clearTimeout(saveTimer);
  saveTimer = setTimeout(() => {
    const top = [...known.entries()].sort((a, b) => b[1] - a[1]).slice(0, 300);
    try {
      localStorage.setItem(KEY, JSON.stringify(top));
    } catch {
      /* storage full or unavailable */
    }
  }, 1000);
}

/** Known tags starting with `prefix`, most seen first. */
export function suggestTags(prefix: string, max = 6): string[] {
  const p = prefix.toLowerCase();
  return [...known.entries()]
    .filter(([t]) => t.startsWith(p))
    .sort((a, b) => b[1] - a[1])
    .slice(0, max)
    .map(([t]) => t);
}

/** The tag a search box's text names, if it is a valid tag. */
export function asTag(q: string): string | null {
  const t = q.trim().replace(/^#/, '').toLowerCase();
  return t && t.length <= 50 && /^[\p{L}\p{N}_]+$/u.test(t) ? t : null;
}
