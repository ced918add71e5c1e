// Small shared pieces: avatars, errors, loading and empty states, form fields.

import type { ComponentChildren, InputHTMLAttributes, TextareaHTMLAttributes } from 'preact';
import { useId } from 'preact/hooks';
import type { Author } from '../api/types';
import { fullTime, relativeTime } from '../lib/time';

export function displayName(u: { displayName?: string | null; username: string }) {
  return u.displayName?.trim() || u.username;
}

export function Avatar({ user, size = 40 }: { user: Pick<Author, 'username' | 'displayName' | 'avatarUrl'>; size?: number }) {
  if (user.avatarUrl) {
    return <img class="avatar" src={user.avatarUrl} width={size} height={size} alt="" loading="lazy" />;
  }
  const letter = displayName(user).charAt(0).toUpperCase() || '?';
  // A stable colour per user.
  let h = 0;
  for (const c of user.username) h = (h * 31 + c.charCodeAt(0)) % 360;
  return (
    <span
      class="avatar avatar-letter"
      style={{ width: `${size}px`, height: `${size}px`, fontSize: `${Math.round(size * 0.45)}px`, background: `hsl(${h} 55% 45%)` }}
      aria-hidden="true"
    >
      {letter}
    </span>
  );
}

export function Time({ iso }: { iso: string }) {
  return (
    <time dateTime={iso} title={fullTime(iso)}>
      {relativeTime(iso)}
    </time>
  );
}

/** An error shown where the user acted; announced to screen readers. */
export function ErrorBox({ error, onRetry }: { error: string | null | undefined; onRetry?: () => void }) {
  if (!error) return null;
  return (
    <div class="error-box" role="alert">
      <span>{error}</span>
      {onRetry && (
        <button type="button" class="btn btn-small" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function Spinner({ label = 'Loading…' }: { label?: string }) {
  return (
    <div class="loading" role="status">
      <span class="spinner" aria-hidden="true" />
      <span>{label}</span>
    </div>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

type InputProps = InputHTMLAttributes<HTMLInputElement> & TextareaHTMLAttributes<HTMLTextAreaElement>;

/** A labelled input or textarea with its own error message. */
export function Field({
  label,
  error,
  hint,
  multiline,
  ...rest
}: { label: string; error?: string; hint?: string; multiline?: boolean } & InputProps) {
  const id = useId();
  const described = [error ? `${id}-err` : '', hint ? `${id}-hint` : ''].filter(Boolean).join(' ') || undefined;
  const props = { ...rest, id, 'aria-invalid': error ? true : undefined, 'aria-describedby': described };
  return (
    <div class={`field${error ? ' field-invalid' : ''}`}>
      <label for={id}>{label}</label>
      {multiline ? <textarea {...(props as TextareaHTMLAttributes<HTMLTextAreaElement>)} /> : <input {...(props as InputHTMLAttributes<HTMLInputElement>)} />}
      {hint && (
        <small id={`${id}-hint`} class="hint">
          {hint}
        </small>
      )}
      {error && (
        <small id={`${id}-err`} class="field-error">
          {error}
        </small>
      )}
    </div>
  );
}

export function Progress({ value, label }: { value: number; label: string }) {
  return (
    <progress class="progress" max={100} value={Math.round(value * 100)} aria-label={label}>
      {Math.round(value * 100)}%
    </progress>
  );
}

/** A field message from the API ("must be ...") as a sentence naming the field. */
export function fieldText(name: string, message: string | undefined): string | undefined {
  if (!message) return undefined;
  const m = message.trim();
  const text = /^(must|is|may|cannot|has)\b/.test(m) ? `${name} ${m}` : m.charAt(0).toUpperCase() + m.slice(1);
  return /[.!?]$/.test(text) ? text : `${text}.`;
}
