// The pages mail links lead to, open to everyone: resetting a forgotten
// password (asking for the mail, then with ?token= choosing a new one) and
// confirming an email address (?token=; without one, asking for a new link).

import { useEffect, useRef, useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { ApiError, errorMessage } from '../api/client';
import { account } from '../api/admin';
import { ErrorBox, Field, Spinner, fieldText } from '../components/ui';
import { useTitle } from '../lib/hooks';
import { signInWith } from '../session';

function useForm() {
  const [error, setError] = useState<string | null>(null);
  const [fields, setFields] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  async function run(action: () => Promise<void>) {
    setBusy(true);
    setError(null);
    setFields({});
    try {
      await action();
    } catch (e) {
      setError(errorMessage(e));
      if (e instanceof ApiError) setFields(e.fields);
    } finally {
      setBusy(false);
    }
  }
  return { error, fields, busy, run };
}

/** Asks for a mail: the same answer whether or not the address is known. */
function AskByEmail({ heading, intro, button, sent, send }: { heading: string; intro: string; button: string; sent: string; send: (email: string) => Promise<unknown> }) {
  const [email, setEmail] = useState('');
  const [done, setDone] = useState(false);
  const form = useForm();
  if (done) {
    return (
      <div class="card auth-form" role="status">
        <h1>Check your email</h1>
        <p>{sent}</p>
        <p>
          <a href="/login">Back to log in</a>
        </p>
      </div>
    );
  }
  return (
    <form
      class="card auth-form"
      aria-labelledby="ask-heading"
      onSubmit={(e) => {
        e.preventDefault();
        void form.run(async () => {
          await send(email.trim());
          setDone(true);
        });
      }}
    >
      <h1 id="ask-heading">{heading}</h1>
      <p>{intro}</p>
      <ErrorBox error={form.error} />
      <Field label="Email" name="email" type="email" autoComplete="email" required value={email} error={fieldText('Email', form.fields.email)} onInput={(e) => setEmail(e.currentTarget.value)} />
      <button type="submit" class="btn btn-primary btn-block" disabled={form.busy}>
        {form.busy ? 'Sending…' : button}
      </button>
      <p class="muted">
        <a href="/login">Back to log in</a>
      </p>
    </form>
  );
}

function NewPassword({ token }: { token: string }) {
  const [pw, setPw] = useState('');
  const [again, setAgain] = useState('');
  const [done, setDone] = useState(false);
  const [mismatch, setMismatch] = useState<string | undefined>();
  const form = useForm();
  if (done) {
    return (
      <div class="card auth-form" role="status">
        <h1>Your password is changed</h1>
        <p>You were signed out everywhere. Log in with your new password.</p>
        <p>
          <a class="btn btn-primary" href="/login">
            Log in
          </a>
        </p>
      </div>
    );
  }
  const bad = form.error && Object.keys(form.fields).length === 0;
  return (
    <form
      class="card auth-form"
      aria-labelledby="reset-heading"
      onSubmit={(e) => {
        e.preventDefault();
        if (pw !== again) {
          setMismatch('The two passwords are not the same.');
          return;
        }
        setMismatch(undefined);
        void form.run(async () => {
          await account.confirmReset(token, pw);
          setDone(true);
        });
      }}
    >
      <h1 id="reset-heading">Choose a new password</h1>
      <ErrorBox error={form.error} />
      {bad && (
        <p>
          <a href="/reset-password">Ask for a new link</a>
        </p>
      )}
      <Field label="New password" name="newPassword" type="password" autoComplete="new-password" required hint="At least 8 characters" value={pw} error={fieldText('New password', form.fields.newPassword)} onInput={(e) => setPw(e.currentTarget.value)} />
      <Field label="New password again" name="again" type="password" autoComplete="new-password" required value={again} error={mismatch} onInput={(e) => setAgain(e.currentTarget.value)} />
      <button type="submit" class="btn btn-primary btn-block" disabled={form.busy}>
        {form.busy ? 'Saving…' : 'Change password'}
      </button>
    </form>
  );
}

export function ResetPassword() {
  useTitle('Reset your password');
  const { query } = useLocation();
  return (
    <div class="auth-page">
      {query.token ? (
        <NewPassword token={query.token} />
      ) : (
        <AskByEmail
          heading="Forgot your password?"
          intro="Enter the email address of your account and we will send you a link to choose a new password."
          button="Send the link"
          sent="If an account uses that address, a link to choose a new password is on its way. It works for one hour."
          send={account.requestReset}
        />
      )}
    </div>
  );
}

function Confirm({ token }: { token: string }) {
  const { route } = useLocation();
  const [error, setError] = useState<string | null>(null);
  const once = useRef(false);
  useEffect(() => {
    if (once.current) return;
    once.current = true;
    account.verifyEmail(token).then(
      (s) => {
        signInWith(s);
        route('/', true);
      },
      (e) => setError(errorMessage(e)),
    );
  }, [token]);
  return (
    <div class="card auth-form">
      <h1>Confirming your email address</h1>
      {error ? (
        <>
          <ErrorBox error={error} />
          <p>
            <a href="/verify-email">Send a new link</a>
          </p>
        </>
      ) : (
        <Spinner label="Confirming…" />
      )}
    </div>
  );
}

export function VerifyEmail() {
  useTitle('Confirm your email');
  const { query } = useLocation();
  return (
    <div class="auth-page">
      {query.token ? (
        <Confirm token={query.token} />
      ) : (
        <AskByEmail
          heading="Confirm your email address"
          intro="Enter the address you signed up with and we will send the confirmation link again."
          button="Send the link again"
          sent="If an account with that address waits for confirmation, a new link is on its way."
          send={account.resendVerification}
        />
      )}
    </div>
  );
}
