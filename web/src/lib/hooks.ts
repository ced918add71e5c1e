import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { errorMessage } from '../api/client';
import type { Page } from '../api/types';

/** Runs `fn` every `ms` while the page is visible (and once on becoming visible again). */
export function useInterval(fn: () => void, ms: number, enabled = true) {
  const saved = useRef(fn);
  saved.current = fn;
  useEffect(() => {
    if (!enabled) return;
    const tick = () => {
      if (document.visibilityState === 'visible') saved.current();
    };
    const id = setInterval(tick, ms);
    const onVisible = () => {
      if (document.visibilityState === 'visible') saved.current();
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      clearInterval(id);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [ms, enabled]);
}

export interface Paged<T> {
  items: T[];
  setItems: (f: (items: T[]) => T[]) => void;
  loading: boolean;
  error: string | null;
  done: boolean;
  loadMore: () => void;
  /** After an error: load the page that failed again. */
  retry: () => void;
  reload: () => void;
}

/** Cursor pagination: the first page at once, the next ones on `loadMore`. */
export function usePaged<T>(fetchPage: (cursor: string | null) => Promise<Page<T>>, key: string): Paged<T> {
  const [items, setItemsState] = useState<T[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  const generation = useRef(0);
  const busy = useRef(false);
  const fetcher = useRef(fetchPage);
  fetcher.current = fetchPage;

  const load = useCallback(async (from: string | null, reset: boolean) => {
    if (busy.current && !reset) return;
    const gen = reset ? ++generation.current : generation.current;
    busy.current = true;
    setLoading(true);
    setError(null);
    try {
      const page = await fetcher.current(from);
      if (gen !== generation.current) return;
      setItemsState((old) => (reset ? page.items : [...old, ...page.items]));
      // Absent or null: the last page.
      const next = page.nextCursor ?? null;
      setCursor(next);
      setDone(next === null);
    } catch (e) {
      if (gen === generation.current) setError(errorMessage(e));
    } finally {
      if (gen === generation.current) {
        busy.current = false;
        setLoading(false);
      }
    }
  }, []);

  useEffect(() => {
    setItemsState([]);
    setDone(false);
    void load(null, true);
  }, [key]);

  return {
    items,
    setItems: (f) => setItemsState(f),
    loading,
    error,
    done,
    loadMore: () => {
      if (!done && !error && cursor) void load(cursor, false);
    },
    retry: () => void (cursor ? load(cursor, false) : load(null, true)),
    reload: () => void load(null, true),
  };
}

/** A ref for an element that calls `onVisible` when it scrolls into view. */
export function useSentinel(onVisible: () => void) {
  const ref = useRef<HTMLDivElement>(null);
  const cb = useRef(onVisible);
  cb.current = onVisible;
  useEffect(() => {
    const el = ref.current;
    if (!el || !('IntersectionObserver' in window)) return;
    const io = new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting)) cb.current();
      },
      { rootMargin: '600px 0px' },
    );
    io.observe(el);
    return () => io.disconnect();
  });
  return ref;
}

/** Sets the document title for the current page. */
export function useTitle(title: string) {
  useEffect(() => {
    document.title = title ? `${title} · Starling` : 'Starling';
  }, [title]);
}
