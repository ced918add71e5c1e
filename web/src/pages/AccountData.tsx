// Your data: download it all, or delete the account.

import { useLocation } from 'preact-iso';
import { useState } from 'preact/hooks';
import { ApiError, errorMessage } from '../api/client';
import { profile } from '../api/endpoints';
import { ErrorBox, Field } from '../components/ui';
import { logout, me, renew } from '../session';
import { toast } from '../toasts';

export function AccountData() {
  const user = me.value;
  const { route } = useLocation();
  const [confirming, setConfirming] = useState(false);
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [fieldError, setFieldError] = useState<string | undefined>();
  if (!user) return null;

  async function download() {
    // The download is a plain navigation: make sure the session cookie is fresh first.
    await renew(false).catch(() => false);
    location.href = '/api/profile/export';
  }

  async function remove(e: Event) {
    e.preventDefault();
    setError(null);
    setFieldError(undefined);
    setBusy(true);
    try {
      await profile.remove(password);
      await logout().catch(() => {});
      toast('Your account is deleted');
      route('/', true);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'wrong_password') setFieldError('That is not your password.');
      else setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section class="card settings-section" aria-labelledby="data-heading">
      <h2 id="data-heading">Your data</h2>
      <p>Download a zip of your profile, posts, comments, loves, follows, messages, notifications and pictures.</p>
      <button type="button" class="btn" onClick={download}>
        Download your data
      </button>
      <h3>Delete your account</h3>
      <p>
        Your profile, posts, pictures, comments, loves, follows and notifications are removed. Messages you sent in
        chats with others stay there, shown as from a deleted user. This cannot be undone.
      </p>
      {!confirming ? (
        <button type="button" class="btn btn-danger" onClick={() => setConfirming(true)}>
          Delete my account…
        </button>
      ) : (
        <form class="stack" onSubmit={remove}>
          <Field
            label="Your password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            error={fieldError}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
          <ErrorBox error={error} />
          <div class="row">
            <button type="submit" class="btn btn-danger" disabled={busy || !password}>
              {busy ? 'Deleting…' : 'Delete my account for good'}
            </button>
            <button type="button" class="btn" disabled={busy} onClick={() => { setConfirming(false); setPassword(''); }}>
              Cancel
            </button>
          </div>
        </form>
      )}
    </section>
  );
}
