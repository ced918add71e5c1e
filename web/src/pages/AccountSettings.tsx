// Settings subpages, loaded when first opened: password, sessions, blocked
// and muted accounts, and your data (export and account deletion).

import { useEffect, useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { ApiError, errorMessage } from '../api/client';
import { account, lists } from '../api/admin';
import { type SessionInfo, relation, relations } from '../api/safety';
import type { User } from '../api/types';
import { Avatar, Empty, ErrorBox, Field, Spinner, Time, displayName, fieldText } from '../components/ui';
import { usePaged, useTitle } from '../lib/hooks';
import { me, signOutHere } from '../session';
import { toast } from '../toasts';

function PasswordPage() {
  useTitle('Password');
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [again, setAgain] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [fields, setFields] = useState<Record<string, string>>({});
  async function save() {
    setError(null);
    setFields({});
    if (next !== again) {
      setFields({ again: 'The two new passwords are not the same.' });
      return;
    }
    setBusy(true);
    try {
      await account.changePassword(current, next);
      setCurrent('');
      setNext('');
      setAgain('');
      toast('Your password is changed. Your other devices were signed out.');
    } catch (e) {
      if (e instanceof ApiError && e.code === 'wrong_password') setFields({ currentPassword: e.message });
      else {
        setError(errorMessage(e));
        if (e instanceof ApiError) setFields(e.fields);
      }
    } finally {
      setBusy(false);
    }
  }
  return (
    <form
      class="card settings-section"
      aria-labelledby="password-heading"
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
    >
      <h2 id="password-heading">Change your password</h2>
      <p class="muted">Changing it signs you out on every other device.</p>
      <ErrorBox error={error} />
      <Field label="Current password" name="currentPassword" type="password" autoComplete="current-password" required value={current} error={fields.currentPassword} onInput={(e) => setCurrent(e.currentTarget.value)} />
      <Field label="New password" name="newPassword" type="password" autoComplete="new-password" required hint="At least 8 characters" value={next} error={fieldText('New password', fields.newPassword)} onInput={(e) => setNext(e.currentTarget.value)} />
      <Field label="New password again" name="again" type="password" autoComplete="new-password" required value={again} error={fields.again} onInput={(e) => setAgain(e.currentTarget.value)} />
      <button type="submit" class="btn btn-primary" disabled={busy || !current || !next}>
        {busy ? 'Changing…' : 'Change password'}
      </button>
    </form>
  );
}

function SessionsPage() {
  useTitle('Sessions');
  const [items, setItems] = useState<SessionInfo[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const load = () => {
    setError(null);
    account.sessions().then((s) => setItems(s.items), (e) => setError(errorMessage(e)));
  };
  useEffect(load, []);
  async function revoke(s: SessionInfo) {
    setBusy(s.id);
    setError(null);
    try {
      await account.revokeSession(s.id);
      setItems((old) => old?.filter((x) => x.id !== s.id) ?? null);
      toast(`Signed out ${s.device}`);
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(null);
    }
  }
  async function revokeOthers() {
    setBusy('others');
    setError(null);
    try {
      await account.revokeOtherSessions();
      setItems((old) => old?.filter((x) => x.current) ?? null);
      toast('Signed out everywhere else');
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(null);
    }
  }
  const others = items?.filter((s) => !s.current).length ?? 0;
  return (
    <section class="card settings-section" aria-labelledby="sessions-heading">
      <h2 id="sessions-heading">Where you are signed in</h2>
      <ErrorBox error={error} onRetry={items ? undefined : load} />
      {items === null && !error && <Spinner label="Loading sessions…" />}
      {items && (
        <ul class="session-list" aria-label="Sessions">
          {items.map((s) => (
            <li key={s.id} data-session-id={s.id}>
              <span>
                <strong>{s.device || 'Unknown device'}</strong>
                {s.current && <span class="state-tag">This device</span>}
                <br />
                <span class="muted small">
                  {s.address} · last used <Time iso={s.lastUsedAt} /> · signed in <Time iso={s.createdAt} />
                </span>
              </span>
              {!s.current && (
                <button type="button" class="btn btn-small" disabled={busy !== null} aria-label={`Sign out ${s.device} (${s.address})`} onClick={() => void revoke(s)}>
                  {busy === s.id ? 'Signing out…' : 'Sign out'}
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      {items && (
        <p class="row">
          <button type="button" class="btn" disabled={busy !== null || others === 0} onClick={revokeOthers}>
            {busy === 'others' ? 'Signing out…' : 'Sign out everywhere else'}
          </button>
        </p>
      )}
    </section>
  );
}

function RelationList({ which }: { which: 'block' | 'mute' }) {
  const block = which === 'block';
  const paged = usePaged((cursor) => (block ? lists.blocks(cursor) : lists.mutes(cursor)), which);
  const [error, setError] = useState<string | null>(null);
  async function toggle(u: User) {
    const on = block ? !relation(u).blocking : !relation(u).muting;
    setError(null);
    try {
      const fresh = await (block ? relations.block(u.id, on) : relations.mute(u.id, on));
      // The server may leave the flag out: it is what was just asked.
      const shown = { ...fresh, [block ? 'blocking' : 'muting']: on } as User;
      paged.setItems((all) => all.map((x) => (x.id === u.id ? shown : x)));
      toast(`${on ? (block ? 'Blocked' : 'Muted') : block ? 'Unblocked' : 'Unmuted'} @${u.username}`);
    } catch (e) {
      setError(errorMessage(e));
    }
  }
  const id = `${which}-heading`;
  return (
    <section class="card settings-section" aria-labelledby={id}>
      <h2 id={id}>{block ? 'Blocked accounts' : 'Muted accounts'}</h2>
      <p class="muted">
        {block
          ? 'They cannot follow you, comment on or love your posts, or message you, and you do not see their posts.'
          : 'Their posts and comments stay out of your feeds. They are not told.'}
      </p>
      <ErrorBox error={error} />
      <ul class="plain-list" aria-label={block ? 'Blocked accounts' : 'Muted accounts'}>
        {paged.items.map((u) => {
          const on = block ? relation(u).blocking : relation(u).muting;
          return (
            <li key={u.id}>
              <a href={`/u/${u.username}`} class="user-link">
                <Avatar user={u} size={32} />
                <span>
                  <span class="author">{displayName(u)}</span>
                  <span class="muted"> @{u.username}</span>
                </span>
              </a>
              <button type="button" class="btn btn-small" aria-label={`${on ? (block ? 'Unblock' : 'Unmute') : block ? 'Block again' : 'Mute again'} @${u.username}`} onClick={() => void toggle(u)}>
                {on ? (block ? 'Unblock' : 'Unmute') : block ? 'Block again' : 'Mute again'}
              </button>
            </li>
          );
        })}
      </ul>
      {paged.loading && <Spinner />}
      <ErrorBox error={paged.error} onRetry={paged.retry} />
      {!paged.loading && !paged.error && paged.items.length === 0 && <Empty>{block ? 'You have not blocked anyone.' : 'You have not muted anyone.'}</Empty>}
      {!paged.loading && !paged.error && !paged.done && paged.items.length > 0 && (
        <button type="button" class="btn load-more" onClick={paged.loadMore}>
          Load more
        </button>
      )}
    </section>
  );
}

function BlocksPage() {
  useTitle('Blocked and muted');
  return (
    <>
      <RelationList which="block" />
      <RelationList which="mute" />
    </>
  );
}

function ExportSection() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function download() {
    setBusy(true);
    setError(null);
    try {
      const blob = await account.exportZip();
      const href = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = href;
      a.download = `starling-export-${me.value?.username ?? 'me'}.zip`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(href), 60_000);
      toast('Your data is downloaded');
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  }
  return (
    <section class="card settings-section" aria-labelledby="export-heading">
      <h2 id="export-heading">Download your data</h2>
      <p class="muted">
        A zip file with your profile, posts, comments, loves, follows, blocks and mutes, messages, notifications, and
        your pictures.
      </p>
      <ErrorBox error={error} />
      <button type="button" class="btn" disabled={busy} onClick={download}>
        {busy ? 'Preparing your data…' : 'Download your data'}
      </button>
      {busy && (
        <p class="hint" role="status">
          Preparing the file; this can take a moment.
        </p>
      )}
    </section>
  );
}

function DeleteSection() {
  const { route } = useLocation();
  const [open, setOpen] = useState(false);
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  async function remove() {
    setBusy(true);
    setError(undefined);
    try {
      await account.remove(password);
      // Away from this page first, so it does not ask to log in again.
      route('/community', true);
      signOutHere();
      toast('Your account is being deleted. Goodbye!', 'info', undefined, 10_000);
    } catch (e) {
      setError(errorMessage(e));
      setBusy(false);
    }
  }
  return (
    <section class="card settings-section danger-zone" aria-labelledby="delete-heading">
      <h2 id="delete-heading">Delete your account</h2>
      <p>
        This deletes your profile, posts, comments, loves, follows and pictures for good. Messages you sent in
        conversations stay there, shown as from a deleted user. It cannot be undone; download your data first if you
        want to keep it.
      </p>
      {!open ? (
        <button type="button" class="btn btn-danger" aria-expanded="false" onClick={() => setOpen(true)}>
          Delete your account…
        </button>
      ) : (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void remove();
          }}
        >
          <Field label="Your password, to confirm" name="password" type="password" autoComplete="current-password" required autoFocus value={password} error={error} onInput={(e) => setPassword(e.currentTarget.value)} />
          <div class="row">
            <button type="submit" class="btn btn-danger" disabled={busy || !password}>
              {busy ? 'Deleting…' : 'Delete my account for good'}
            </button>
            <button type="button" class="btn" onClick={() => { setOpen(false); setPassword(''); setError(undefined); }}>
              Keep my account
            </button>
          </div>
        </form>
      )}
    </section>
  );
}

function DataPage() {
  useTitle('Your data');
  return (
    <>
      <ExportSection />
      <DeleteSection />
    </>
  );
}

const PAGES: Record<string, () => preact.JSX.Element> = {
  password: PasswordPage,
  sessions: SessionsPage,
  blocks: BlocksPage,
  data: DataPage,
};

/** One settings subpage by its name in the address; null when there is none. */
export function SettingsSection({ section }: { section: string }) {
  const Page = PAGES[section];
  return Page ? <Page /> : null;
}

export const SECTIONS = Object.keys(PAGES);
