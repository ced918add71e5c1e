import { useEffect, useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { ApiError, errorMessage } from '../api/client';
import { type Instance, instance } from '../api/safety';
import { ErrorBox, Field, Spinner, fieldText } from '../components/ui';
import { useTitle } from '../lib/hooks';
import { dropPush } from '../notifications';
import { login, logout, register, signedIn, status } from '../session';

/** Where to go after signing in: a same-site path from `?next=`, else home. */
function nextPath(query: Record<string, string>) {
  const n = query.next;
  return n && n.startsWith('/') && !n.startsWith('//') ? n : '/';
}

function useAuthForm() {
  const [error, setError] = useState<string | null>(null);
  const [fields, setFields] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const [code, setCode] = useState<string | null>(null);
  async function run(action: () => Promise<void>) {
    setBusy(true);
    setError(null);
    setFields({});
    setCode(null);
    try {
      await action();
    } catch (e) {
      if (e instanceof ApiError) setCode(e.code);
      if (e instanceof ApiError && Object.keys(e.fields).length > 0) {
        setFields(e.fields);
        setError(e.code === 'validation_failed' ? 'Please correct the fields marked below.' : e.message);
      } else {
        setError(errorMessage(e));
      }
    } finally {
      setBusy(false);
    }
  }
  return { error, fields, busy, code, run };
}

/** The server's public settings (registration mode, ...), fetched once per visit. */
let instanceAsk: Promise<Instance> | null = null;
export function useInstance(): Instance | null {
  const [inst, setInst] = useState<Instance | null>(null);
  useEffect(() => {
    const ask = (instanceAsk ??= instance().catch((e: unknown) => {
      instanceAsk = null;
      throw e;
    }));
    ask.then(setInst, () => {});
  }, []);
  return inst;
}

export function Login() {
  useTitle('Log in');
  const { route, query } = useLocation();
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const form = useAuthForm();
  useEffect(() => {
    if (signedIn.value) route(nextPath(query), true);
  }, [signedIn.value]);
  return (
    <div class="auth-page">
      <form
        class="card auth-form"
        aria-labelledby="login-heading"
        onSubmit={(e) => {
          e.preventDefault();
          void form.run(async () => {
            await login(name.trim(), password);
            route(nextPath(query), true);
          });
        }}
      >
        <h1 id="login-heading">Log in to Starling</h1>
        <ErrorBox error={form.error} />
        <Field label="Username or email" name="login" autoComplete="username" required value={name} error={fieldText('Username or email', form.fields.login)} onInput={(e) => setName(e.currentTarget.value)} />
        <Field label="Password" name="password" type="password" autoComplete="current-password" required value={password} error={fieldText('Password', form.fields.password)} onInput={(e) => setPassword(e.currentTarget.value)} />
        <button type="submit" class="btn btn-primary btn-block" disabled={form.busy}>
          {form.busy ? 'Logging in…' : 'Log in'}
        </button>
        {form.code === 'email_unverified' && (
          <p>
            <a href="/verify-email">Send the confirmation link again</a>
          </p>
        )}
        <p class="muted">
          <a href="/reset-password">Forgot password?</a>
        </p>
        <p class="muted">
          New here? <a href={`/register${query.next ? `?next=${encodeURIComponent(query.next)}` : ''}`}>Create an account</a>
        </p>
      </form>
    </div>
  );
}

export function Register() {
  useTitle('Sign up');
  const { route, query } = useLocation();
  const [v, setV] = useState({ username: '', email: '', password: '', displayName: '', inviteCode: query.invite ?? '' });
  const [waiting, setWaiting] = useState<string | null>(null);
  const inst = useInstance();
  const mode = inst?.registrationMode;
  const form = useAuthForm();
  const set = (k: keyof typeof v) => (e: { currentTarget: { value: string } }) => setV({ ...v, [k]: e.currentTarget.value });
  useEffect(() => {
    if (signedIn.value) route(nextPath(query), true);
  }, [signedIn.value]);
  if (waiting) return <Waiting status={waiting} email={v.email.trim()} />;
  if (mode === 'closed') {
    return (
      <div class="auth-page">
        <div class="card auth-form">
          <h1>Sign-ups are closed</h1>
          <p>This server does not take new accounts at the moment.</p>
          <p>
            <a href="/login">Log in</a> or <a href="/community">browse the community</a>.
          </p>
        </div>
      </div>
    );
  }
  return (
    <div class="auth-page">
      <form
        class="card auth-form"
        aria-labelledby="register-heading"
        onSubmit={(e) => {
          e.preventDefault();
          void form.run(async () => {
            const result = await register({
              username: v.username.trim(),
              email: v.email.trim(),
              password: v.password,
              displayName: v.displayName.trim() || undefined,
              inviteCode: mode === 'invite' || v.inviteCode.trim() ? v.inviteCode.trim() : undefined,
            });
            if (result === 'signedIn') route(nextPath(query), true);
            else setWaiting(result);
          });
        }}
      >
        <h1 id="register-heading">Create your account</h1>
        {mode === 'approval' && <p class="notice">A moderator looks at new accounts before they can be used.</p>}
        <ErrorBox error={form.error} />
        <Field label="Username" name="username" autoComplete="username" required hint="3-30 letters, digits or _" value={v.username} error={fieldText('Username', form.fields.username)} onInput={set('username')} />
        <Field label="Display name (optional)" name="displayName" autoComplete="name" value={v.displayName} error={fieldText('Display name', form.fields.displayName)} onInput={set('displayName')} />
        <Field label="Email" name="email" type="email" autoComplete="email" required value={v.email} error={fieldText('Email', form.fields.email)} onInput={set('email')} />
        <Field label="Password" name="password" type="password" autoComplete="new-password" required hint="At least 8 characters" value={v.password} error={fieldText('Password', form.fields.password)} onInput={set('password')} />
        {(mode === 'invite' || form.fields.inviteCode) && (
          <Field label="Invite code" name="inviteCode" autoComplete="off" required hint="Sign-ups on this server need an invite from a member of its team" value={v.inviteCode} error={fieldText('Invite code', form.fields.inviteCode)} onInput={set('inviteCode')} />
        )}
        <button type="submit" class="btn btn-primary btn-block" disabled={form.busy}>
          {form.busy ? 'Creating account…' : 'Sign up'}
        </button>
        <p class="muted">
          Already have an account? <a href="/login">Log in</a>
        </p>
      </form>
    </div>
  );
}

/** After signing up, when the account is not usable yet. */
function Waiting({ status: s, email }: { status: string; email: string }) {
  const verify = s === 'verify_email';
  return (
    <div class="auth-page">
      <div class="card auth-form" role="status">
        <h1>{verify ? 'Check your email' : 'Thanks for signing up'}</h1>
        {verify ? (
          <p>
            We sent a link to <strong>{email}</strong>. Open it to confirm your address and start using your account.
          </p>
        ) : (
          <p>
            Your account is waiting for approval by a moderator. We will send an email to <strong>{email}</strong> once it
            is approved; then you can log in.
          </p>
        )}
        {verify && (
          <p class="muted">
            Nothing arrived? <a href="/verify-email">Send the link again</a>
          </p>
        )}
        <p>
          <a href="/community">Browse the community meanwhile</a>
        </p>
      </div>
    </div>
  );
}

export function Logout() {
  useTitle('Log out');
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState(status.value === 'signedOut');
  useEffect(() => {
    if (status.value === 'signedOut') return;
    // Pushes to this browser stop with the session.
    dropPush()
      .then(logout)
      .then(
        () => setDone(true),
        (e) => {
          setError(errorMessage(e));
          setDone(true);
        },
      );
  }, []);
  return (
    <div class="auth-page">
      <div class="card auth-form">
        {!done ? (
          <Spinner label="Logging out…" />
        ) : (
          <>
            <h1>You are logged out</h1>
            <ErrorBox error={error} />
            <p>
              <a class="btn btn-primary" href="/login">
                Log in again
              </a>{' '}
              <a class="btn" href="/community">
                Browse the community
              </a>
            </p>
          </>
        )}
      </div>
    </div>
  );
}

/** Renders its children only when signed in; otherwise sends the user to log in. */
export function RequireAuth({ children }: { children: preact.ComponentChildren }) {
  const { route, url } = useLocation();
  const out = status.value === 'signedOut';
  useEffect(() => {
    if (out) route(`/login?next=${encodeURIComponent(url)}`, true);
  }, [out]);
  if (!signedIn.value) return out ? null : <Spinner />;
  return <>{children}</>;
}
