// Writing a post: text with @mention and #tag suggestions, and up to four
// images, each uploaded at once with a preview, a progress bar and a remove
// button. Retrying a failed publish reuses its Idempotency-Key, so a post is
// never made twice.

import { useEffect, useRef, useState } from 'preact/hooks';
import { errorMessage, randomKey } from '../api/client';
import { media, posts } from '../api/endpoints';
import type { Media, Post } from '../api/types';
import { me } from '../session';
import { Icon } from './Icon';
import { SuggestTextarea } from './SuggestTextarea';
import { Avatar, ErrorBox, Progress } from './ui';

export const MAX_IMAGES = 4;
const MAX_TEXT = 5000;

interface Attachment {
  key: string;
  name: string;
  preview: string;
  progress: number;
  media?: Media;
  error?: string;
  abort: AbortController;
}

export function Composer({ onPosted }: { onPosted: (p: Post) => void }) {
  const [text, setText] = useState('');
  const [files, setFiles] = useState<Attachment[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [fieldError, setFieldError] = useState<string | undefined>();
  const [sending, setSending] = useState(false);
  const idempotency = useRef<string | null>(null);
  const inputRef = useRef<HTMLInputElement>(null);
  const filesRef = useRef(files);
  filesRef.current = files;

  // Release previews when leaving the page.
  useEffect(
    () => () => {
      for (const f of filesRef.current) {
        f.abort.abort();
        URL.revokeObjectURL(f.preview);
      }
    },
    [],
  );

  const patch = (key: string, change: Partial<Attachment>) =>
    setFiles((all) => all.map((f) => (f.key === key ? { ...f, ...change } : f)));

  function add(list: FileList | File[]) {
    setError(null);
    const chosen = Array.from(list);
    const room = MAX_IMAGES - filesRef.current.length;
    if (chosen.length > room) setError(`A post can have up to ${MAX_IMAGES} images.`);
    const accepted: Attachment[] = [];
    for (const file of chosen.slice(0, Math.max(0, room))) {
      if (!file.type.startsWith('image/')) {
        setError(`${file.name} is not an image.`);
        continue;
      }
      const a: Attachment = {
        key: randomKey(),
        name: file.name,
        preview: URL.createObjectURL(file),
        progress: 0,
        abort: new AbortController(),
      };
      accepted.push(a);
      media.upload(file, (p) => patch(a.key, { progress: p }), a.abort.signal).then(
        (m) => patch(a.key, { media: m, progress: 1 }),
        (e) => {
          if (!(e instanceof DOMException && e.name === 'AbortError')) patch(a.key, { error: errorMessage(e) });
        },
      );
    }
    setFiles((all) => [...all, ...accepted]);
    idempotency.current = null;
  }

  function removeFile(key: string) {
    const f = files.find((x) => x.key === key);
    if (f) {
      f.abort.abort();
      URL.revokeObjectURL(f.preview);
    }
    setFiles((all) => all.filter((x) => x.key !== key));
    idempotency.current = null;
    inputRef.current?.focus();
  }

  const uploading = files.some((f) => !f.media && !f.error);
  const failed = files.some((f) => f.error);
  const empty = !text.trim() && files.length === 0;
  const canSend = !empty && !uploading && !failed && !sending && text.length <= MAX_TEXT;

  async function send() {
    if (!canSend) return;
    setSending(true);
    setError(null);
    setFieldError(undefined);
    idempotency.current ??= randomKey();
    try {
      const post = await posts.create(
        text,
        files.flatMap((f) => (f.media ? [f.media.id] : [])),
        idempotency.current,
      );
      for (const f of files) URL.revokeObjectURL(f.preview);
      setText('');
      setFiles([]);
      idempotency.current = null;
      onPosted(post);
    } catch (e) {
      setError(errorMessage(e));
      const fields = (e as { fields?: Record<string, string> }).fields;
      if (fields?.text) setFieldError(fields.text);
    } finally {
      setSending(false);
    }
  }

  const user = me.value;
  return (
    <form
      class="card composer"
      aria-label="New post"
      onSubmit={(e) => {
        e.preventDefault();
        void send();
      }}
      onDragOver={(e) => e.preventDefault()}
      onDrop={(e) => {
        e.preventDefault();
        if (e.dataTransfer?.files.length) add(e.dataTransfer.files);
      }}
    >
      <div class="composer-body">
        {user && <Avatar user={user} />}
        <SuggestTextarea
          label="What's happening?"
          hideLabel
          placeholder="What's happening? Use @ to mention people and # for tags"
          value={text}
          onValue={(v) => {
            setText(v);
            idempotency.current = null;
          }}
          rows={3}
          onSubmit={send}
          error={fieldError}
        />
      </div>
      {files.length > 0 && (
        <ul class="attachments" aria-label="Images">
          {files.map((f, i) => (
            <li key={f.key} class={f.error ? 'attachment failed' : 'attachment'}>
              <img src={f.preview} alt={`Preview of image ${i + 1}: ${f.name}`} />
              {!f.media && !f.error && <Progress value={f.progress} label={`Uploading ${f.name}`} />}
              {f.error && (
                <span class="attachment-error" role="alert">
                  {f.error}
                </span>
              )}
              <button type="button" class="remove" aria-label={`Remove image ${i + 1}: ${f.name}`} onClick={() => removeFile(f.key)}>
                <Icon name="close" size={16} />
              </button>
            </li>
          ))}
        </ul>
      )}
      <ErrorBox error={error} />
      <div class="composer-bar">
        <label class={`btn btn-ghost file-btn${files.length >= MAX_IMAGES ? ' disabled' : ''}`}>
          <Icon name="image" />
          <span>Add images</span>
          <input
            ref={inputRef}
            type="file"
            accept="image/png,image/jpeg,image/webp,image/gif"
            multiple
            class="visually-hidden"
            disabled={files.length >= MAX_IMAGES}
            onChange={(e) => {
              const input = e.currentTarget;
              if (input.files?.length) add(input.files);
              input.value = '';
            }}
          />
        </label>
        <span class={`char-count${text.length > MAX_TEXT ? ' over' : ''}`} aria-live="polite">
          {text.length > MAX_TEXT - 200 ? `${MAX_TEXT - text.length} characters left` : ''}
        </span>
        <button type="submit" class="btn btn-primary" disabled={!canSend}>
          {sending ? 'Posting…' : uploading ? 'Uploading…' : 'Post'}
        </button>
      </div>
    </form>
  );
}
