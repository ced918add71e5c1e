// A textarea that suggests @usernames (from user search) and #tags (from the
// tags seen in posts) for the word being typed; arrows, Enter/Tab and Escape
// work as in any combobox.

import type { TargetedKeyboardEvent } from 'preact';
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import { users } from '../api/endpoints';
import type { Author } from '../api/types';
import { suggestTags } from '../lib/tags';
import { tokenAt } from '../lib/text';
import { Avatar } from './ui';

interface Suggestion {
  insert: string;
  label: string;
  sub?: string;
  avatar?: Pick<Author, 'username' | 'displayName' | 'avatarUrl'>;
}

interface Props {
  value: string;
  onValue: (v: string) => void;
  label: string;
  /** Visually hide the label (it still names the field). */
  hideLabel?: boolean;
  placeholder?: string;
  rows?: number;
  maxLength?: number;
  disabled?: boolean;
  autoFocus?: boolean;
  /** Ctrl/Cmd+Enter. */
  onSubmit?: () => void;
  error?: string;
}

export function SuggestTextarea(props: Props) {
  const id = useId();
  const listId = `${id}-list`;
  const ref = useRef<HTMLTextAreaElement>(null);
  const [items, setItems] = useState<Suggestion[]>([]);
  const [active, setActive] = useState(0);
  const [token, setToken] = useState<ReturnType<typeof tokenAt>>(null);
  const seq = useRef(0);

  useEffect(() => {
    if (props.autoFocus) ref.current?.focus();
  }, []);

  useEffect(() => {
    const t = token;
    if (!t || t.query.length === 0) {
      setItems([]);
      return;
    }
    const mine = ++seq.current;
    if (t.sigil === '#') {
      const tags = suggestTags(t.query);
      const q = t.query.toLowerCase();
      const all = [q, ...tags.filter((x) => x !== q)].slice(0, 6);
      setItems(all.map((tag) => ({ insert: `#${tag}`, label: `#${tag}` })));
      setActive(0);
      return;
    }
    const ctl = new AbortController();
    const timer = setTimeout(async () => {
      try {
        const page = await users.search(t.query, { limit: 6 }, ctl.signal);
        if (mine !== seq.current) return;
        setItems(
          page.items.map((u) => ({
            insert: `@${u.username}`,
            label: u.displayName || u.username,
            sub: `@${u.username}`,
            avatar: u,
          })),
        );
        setActive(0);
      } catch {
        if (mine === seq.current) setItems([]);
      }
    }, 150);
    return () => {
      clearTimeout(timer);
      ctl.abort();
    };
  }, [token?.sigil, token?.query, token?.start]);

  const open = items.length > 0 && token !== null;

  function update(el: HTMLTextAreaElement) {
    setToken(tokenAt(el.value, el.selectionStart ?? el.value.length));
  }

  function pick(s: Suggestion) {
    const el = ref.current;
    if (!el || !token) return;
    const caret = el.selectionStart ?? el.value.length;
    const next = `${props.value.slice(0, token.start)}${s.insert} ${props.value.slice(caret)}`;
    const pos = token.start + s.insert.length + 1;
    // Apply the text and the caret now, inside this key event: deferring
    // the caret (to a later frame) let keys typed meanwhile land at the end
    // and the rest after the caret moved back, scrambling the text.
    el.value = next;
    el.setSelectionRange(pos, pos);
    el.focus();
    props.onValue(next);
    setItems([]);
    setToken(null);
  }

  function onKeyDown(e: TargetedKeyboardEvent<HTMLTextAreaElement>) {
    if (open) {
      if (e.key === 'ArrowDown') {
        e.preventDefault();
        setActive((a) => (a + 1) % items.length);
        return;
      }
      if (e.key === 'ArrowUp') {
        e.preventDefault();
        setActive((a) => (a - 1 + items.length) % items.length);
        return;
      }
      if (e.key === 'Enter' || e.key === 'Tab') {
        e.preventDefault();
        pick(items[active]);
        return;
      }
      if (e.key === 'Escape') {
        e.preventDefault();
        setItems([]);
        return;
      }
    }
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey) && props.onSubmit) {
      e.preventDefault();
      props.onSubmit();
    }
  }

  const errId = `${id}-err`;
  return (
    <div class={`field suggest${props.error ? ' field-invalid' : ''}`}>
      <label for={id} class={props.hideLabel ? 'visually-hidden' : undefined}>
        {props.label}
      </label>
      <textarea
        ref={ref}
        id={id}
        value={props.value}
        rows={props.rows ?? 3}
        placeholder={props.placeholder}
        maxLength={props.maxLength}
        disabled={props.disabled}
        aria-autocomplete="list"
        aria-controls={listId}
        aria-activedescendant={open ? `${listId}-${active}` : undefined}
        aria-invalid={props.error ? true : undefined}
        aria-describedby={props.error ? errId : undefined}
        onInput={(e) => {
          props.onValue(e.currentTarget.value);
          update(e.currentTarget);
        }}
        onKeyDown={onKeyDown}
        onClick={(e) => update(e.currentTarget)}
        onKeyUp={(e) => {
          if (['ArrowLeft', 'ArrowRight', 'Home', 'End'].includes(e.key)) update(e.currentTarget);
        }}
        onBlur={() => setTimeout(() => setItems([]), 150)}
      />
      <ul id={listId} role="listbox" class="suggestions" hidden={!open} aria-label="Suggestions">
        {open &&
          items.map((s, i) => (
            <li
              key={s.insert}
              id={`${listId}-${i}`}
              role="option"
              aria-selected={i === active}
              class={i === active ? 'active' : undefined}
              onMouseDown={(e) => {
                e.preventDefault();
                pick(s);
              }}
            >
              {s.avatar && <Avatar user={s.avatar} size={24} />}
              <span class="suggest-label">{s.label}</span>
              {s.sub && <span class="muted">{s.sub}</span>}
            </li>
          ))}
      </ul>
      {props.error && (
        <small id={errId} class="field-error">
          {props.error}
        </small>
      )}
    </div>
  );
}
