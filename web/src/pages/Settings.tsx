// Your profile: picture, display name and bio; browser push notifications.

import type { ComponentType } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, errorMessage } from '../api/client';
import { profile } from '../api/endpoints';
import { Avatar, ErrorBox, Field, Progress, Spinner, fieldText } from '../components/ui';
import { useTitle } from '../lib/hooks';
import { me, updateMe } from '../session';
import { toast } from '../toasts';
import { RequireAuth } from './Auth';

function AvatarForm() {
  const user = me.value;
  const [file, setFile] = useState<File | null>(null);
  const [preview, setPreview] = useState<string | null>(null);
  const [progress, setProgress] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => () => void (preview && URL.revokeObjectURL(preview)), [preview]);
  if (!user) return null;

  function choose(f: File | undefined) {
    setError(null);
    if (!f) return;
    if (!f.type.startsWith('image/')) {
      setError(`${f.name} is not an image.`);
      return;
    }
    setFile(f);
    setPreview(URL.createObjectURL(f));
  }

  async function save() {
    if (!file) return;
    setError(null);
    setProgress(0);
    try {
      updateMe(await profile.avatar(file, setProgress));
      setFile(null);
      setPreview(null);
      toast('Your new picture is saved');
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setProgress(null);
    }
  }

  return (
    <section class="card settings-section" aria-labelledby="avatar-heading">
      <h2 id="avatar-heading">Profile picture</h2>
      <div class="avatar-edit">
        {preview ? <img class="avatar" src={preview} width={96} height={96} alt="Preview of your new picture" /> : <Avatar user={user} size={96} />}
        <div class="stack">
          <label class="btn file-btn">
            <span>{preview ? 'Choose another picture' : 'Choose a picture'}</span>
            <input
              ref={input}
              type="file"
              accept="image/png,image/jpeg,image/webp,image/gif"
              class="visually-hidden"
              onChange={(e) => {
                choose(e.currentTarget.files?.[0]);
                e.currentTarget.value = '';
              }}
            />
          </label>
          {preview && (
            <div class="row">
              <button type="button" class="btn btn-primary" disabled={progress !== null} onClick={save}>
                {progress !== null ? 'Uploading…' : 'Save picture'}
              </button>
              <button type="button" class="btn" disabled={progress !== null} onClick={() => { setFile(null); setPreview(null); input.current?.focus(); }}>
                Cancel
              </button>
            </div>
          )}
          {progress !== null && <Progress value={progress} label="Uploading your picture" />}
          <small class="hint">PNG, JPEG, WebP or GIF, up to 5 MB by default. Shown in a circle.</small>
        </div>
      </div>
      <ErrorBox error={error} />
    </section>
  );
}

function ProfileForm() {
  const user = me.value;
  const [name, setName] = useState(user?.displayName ?? '');
  const [bio, setBio] = useState(user?.bio ?? '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [fields, setFields] = useState<Record<string, string>>({});
  if (!user) return null;
  const changed = name !== (user.displayName ?? '') || bio !== user.bio;
  async function save() {
    setBusy(true);
    setError(null);
    setFields({});
    try {
      updateMe(await profile.update({ displayName: name.trim() || null, bio }));
      toast('Profile saved');
    } catch (e) {
      setError(errorMessage(e));
      if (e instanceof ApiError) setFields(e.fields);
    } finally {
      setBusy(false);
    }
  }
  return (
    <form
      class="card settings-section"
      aria-labelledby="profile-heading"
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
    >
      <h2 id="profile-heading">Profile</h2>
      <Field label="Display name" name="displayName" value={name} maxLength={50} hint="Shown instead of your username; up to 50 characters" error={fieldText('Display name', fields.displayName)} onInput={(e) => setName(e.currentTarget.value)} />
      <Field label="Bio" name="bio" multiline rows={4} value={bio} maxLength={500} hint={`${500 - bio.length} characters left`} error={fieldText('Bio', fields.bio)} onInput={(e) => setBio(e.currentTarget.value)} />
      <ErrorBox error={error} />
      <div class="row">
        <button type="submit" class="btn btn-primary" disabled={busy || !changed}>
          {busy ? 'Saving…' : 'Save profile'}
        </button>
        <a class="btn btn-ghost" href={`/u/${user.username}`}>
          View your profile
        </a>
      </div>
    </form>
  );
}

/** Web Push on or off for this browser; its code is loaded with this section. */
function BrowserNotifications() {
  const [Section, setSection] = useState<ComponentType | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = () => {
    setError(null);
    import('./PushSettings').then(
      (m) => setSection(() => m.PushSettings),
      (e: unknown) => setError(`This section could not be loaded: ${errorMessage(e)}`),
    );
  };
  useEffect(load, []);
  if (Section) return <Section />;
  return (
    <section class="card settings-section" aria-labelledby="push-heading">
      <h2 id="push-heading">Browser notifications</h2>
      {error ? <ErrorBox error={error} onRetry={load} /> : <Spinner label="Checking this browser…" />}
    </section>
  );
}

function Account() {
  const user = me.value;
  if (!user) return null;
  return (
    <section class="card settings-section" aria-labelledby="account-heading">
      <h2 id="account-heading">Account</h2>
      <dl class="facts">
        <dt>Username</dt>
        <dd>@{user.username}</dd>
        <dt>Email</dt>
        <dd>{user.email}</dd>
      </dl>
    </section>
  );
}

const TABS: [string, string][] = [
  ['', 'Profile'],
  ['password', 'Password'],
  ['sessions', 'Sessions'],
  ['blocks', 'Blocked & muted'],
  ['data', 'Your data'],
];

function SettingsTabs({ section }: { section: string }) {
  return (
    <nav class="tabs settings-tabs" aria-label="Settings">
      {TABS.map(([key, label]) => (
        <a key={key} href={key ? `/settings/${key}` : '/settings'} aria-current={key === section ? 'page' : undefined}>
          {label}
        </a>
      ))}
    </nav>
  );
}

type SectionType = ComponentType<{ section: string }>;
let loadedSection: SectionType | null = null;

/** A subpage: its code (AccountSettings) is loaded when first opened. */
function Section({ section }: { section: string }) {
  const [Page, setPage] = useState<SectionType | null>(() => loadedSection);
  const [error, setError] = useState<string | null>(null);
  const load = () => {
    setError(null);
    import('./AccountSettings').then(
      (m) => {
        loadedSection = m.SettingsSection;
        setPage(() => m.SettingsSection);
      },
      (e: unknown) => setError(`This page could not be loaded: ${errorMessage(e)}`),
    );
  };
  useEffect(() => {
    if (!loadedSection) load();
  }, []);
  if (!TABS.some(([key]) => key === section)) {
    return (
      <div class="card">
        <p>There is no such settings page.</p>
      </div>
    );
  }
  if (Page) return <Page section={section} />;
  return error ? <ErrorBox error={error} onRetry={load} /> : <Spinner />;
}

export function Settings({ section = '' }: { section?: string }) {
  useTitle('Settings');
  return (
    <RequireAuth>
      <h1 class="page-title">Settings</h1>
      <SettingsTabs section={section} />
      {section ? (
        <Section section={section} />
      ) : (
        <>
          <AvatarForm />
          <ProfileForm />
          <BrowserNotifications />
          <Account />
        </>
      )}
    </RequireAuth>
  );
}
