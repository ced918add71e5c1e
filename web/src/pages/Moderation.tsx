// The moderation area (moderators and admins; its code loads when first
// opened): the report queue, accounts (suspend, silence, and roles for
// admins), pending registrations, invites and the audit log.

import { useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { admin } from '../api/admin';
import { errorMessage } from '../api/client';
import {
  type AccountAction,
  type AccountStatus,
  type AdminReport,
  type AdminUser,
  type AuditEntry,
  type Invite,
  type ResolveAction,
  type Role,
  isModerator,
  roleOf,
} from '../api/safety';
import type { Comment, User } from '../api/types';
import { RichText } from '../components/RichText';
import { Empty, ErrorBox, Spinner, Time, displayName } from '../components/ui';
import { type Paged, usePaged, useSentinel, useTitle } from '../lib/hooks';
import { me } from '../session';
import { toast } from '../toasts';
import { RequireAuth } from './Auth';

const TABS: [string, string][] = [
  ['reports', 'Reports'],
  ['accounts', 'Accounts'],
  ['registrations', 'Registrations'],
  ['invites', 'Invites'],
  ['audit', 'Audit log'],
];

const REASON: Record<string, string> = {
  spam: 'Spam',
  harassment: 'Harassment',
  illegal: 'Illegal content',
  other: 'Something else',
};

const ACTION: Record<string, string> = {
  dismiss: 'Dismissed',
  remove_content: 'Removed the content',
  suspend: 'Suspended',
  unsuspend: 'Unsuspended',
  silence: 'Silenced',
  unsilence: 'Unsilenced',
  set_role: 'Changed the role',
  approve: 'Approved a registration',
  reject: 'Rejected a registration',
  create_invite: 'Created an invite',
  revoke_invite: 'Revoked an invite',
};

function Who({ user }: { user: Pick<User, 'username' | 'displayName'> | null | undefined }) {
  if (!user) return <span class="muted">a deleted user</span>;
  return (
    <a href={`/u/${user.username}`}>
      {displayName(user)} <span class="muted">@{user.username}</span>
    </a>
  );
}

/** Infinite list plumbing shared by the tabs. */
function More<T>({ paged }: { paged: Paged<T> }) {
  const sentinel = useSentinel(paged.loadMore);
  return (
    <>
      {paged.loading && <Spinner />}
      <ErrorBox error={paged.error} onRetry={paged.retry} />
      {!paged.loading && !paged.error && !paged.done && paged.items.length > 0 && (
        <button type="button" class="btn load-more" onClick={paged.loadMore}>
          Load more
        </button>
      )}
      <div ref={sentinel} class="sentinel" aria-hidden="true" />
    </>
  );
}

// ---- reports ----

/** What the reporter wrote, if anything. */
function reporterNote(r: AdminReport): string | null {
  const c = r.comment;
  return typeof c === 'string' && c.trim() ? c : null;
}

/** The reported comment, while it exists. */
function reportedComment(r: AdminReport): Comment | null {
  return r.reportedComment ?? null;
}

function Reported({ r }: { r: AdminReport }) {
  if (r.post) {
    return (
      <div class="reported">
        <p class="muted small">
          Post by <Who user={r.post.author} /> · <a href={`/p/${r.post.id}`}>open</a>
        </p>
        <RichText text={r.post.text} />
        {r.post.media.length > 0 && <p class="muted small">With {r.post.media.length} picture(s).</p>}
      </div>
    );
  }
  const comment = reportedComment(r);
  if (comment) {
    return (
      <div class="reported">
        <p class="muted small">
          Comment by <Who user={comment.author} />
        </p>
        <RichText text={comment.text} />
      </div>
    );
  }
  if (r.message) {
    return (
      <div class="reported">
        <p class="muted small">
          Chat message by <Who user={r.targetUser} /> · <Time iso={r.message.createdAt} />
        </p>
        <p>{r.message.text}</p>
      </div>
    );
  }
  if (r.targetType === 'user') {
    return (
      <div class="reported">
        <p>
          The account <Who user={r.targetUser} />
        </p>
      </div>
    );
  }
  return (
    <div class="reported">
      <p class="muted">The reported {r.targetType} is gone.</p>
    </div>
  );
}

function ReportCard({ report, onResolved }: { report: AdminReport; onResolved: (r: AdminReport) => void }) {
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState<ResolveAction | null>(null);
  const [error, setError] = useState<string | null>(null);
  const open = report.status === 'open';
  const who = report.targetUser ? `@${report.targetUser.username}` : 'the author';
  const hasContent = report.targetType !== 'user' && Boolean(report.post || reportedComment(report) || report.message);
  const note0 = reporterNote(report);
  const noteId = `note-${report.id}`;
  async function resolve(action: ResolveAction) {
    setBusy(action);
    setError(null);
    try {
      const r = await admin.resolve(report.id, action, note.trim());
      toast(`Report resolved: ${ACTION[action]?.toLowerCase() ?? action}`);
      onResolved(r);
    } catch (e) {
      setError(errorMessage(e));
      setBusy(null);
    }
  }
  const what = { user: 'an account', post: 'a post', comment: 'a comment', message: 'a message' }[report.targetType] ?? report.targetType;
  return (
    <article class="card report" aria-labelledby={`report-${report.id}`} data-report-id={report.id}>
      <header class="report-head">
        <h2 id={`report-${report.id}`} class="small-title">
          {REASON[report.reason] ?? report.reason}: {what}
        </h2>
        <span class="muted small">
          reported by <Who user={report.reporter} /> · <Time iso={report.createdAt} /> ·{' '}
          <a href={`/moderation/reports/${report.id}`}>link</a>
        </span>
      </header>
      {note0 && <blockquote class="muted">“{note0}”</blockquote>}
      <Reported r={report} />
      {report.resolution && (
        <p class="notice">
          {ACTION[report.resolution.action] ?? report.resolution.action} by <Who user={report.resolution.moderator} />{' '}
          <Time iso={report.resolution.resolvedAt} />
          {report.resolution.note && <>: “{report.resolution.note}”</>}
        </p>
      )}
      {open && (
        <div class="report-actions" role="group" aria-label="Resolve this report">
          <div class="field">
            <label for={noteId}>Note for the audit log (optional)</label>
            <input id={noteId} type="text" maxLength={1000} value={note} onInput={(e) => setNote(e.currentTarget.value)} />
          </div>
          <button type="button" class="btn" disabled={busy !== null} onClick={() => void resolve('dismiss')}>
            {busy === 'dismiss' ? 'Dismissing…' : 'Dismiss'}
          </button>
          {hasContent && (
            <button type="button" class="btn btn-danger" disabled={busy !== null} onClick={() => void resolve('remove_content')}>
              {busy === 'remove_content' ? 'Removing…' : 'Remove content'}
            </button>
          )}
          {report.targetUser && (
            <>
              <button type="button" class="btn" disabled={busy !== null} aria-label={`Silence ${who}`} onClick={() => void resolve('silence')}>
                {busy === 'silence' ? 'Silencing…' : 'Silence'}
              </button>
              <button type="button" class="btn btn-danger" disabled={busy !== null} aria-label={`Suspend ${who}`} onClick={() => void resolve('suspend')}>
                {busy === 'suspend' ? 'Suspending…' : 'Suspend'}
              </button>
            </>
          )}
        </div>
      )}
      <ErrorBox error={error} />
    </article>
  );
}

function Reports() {
  const { query } = useLocation();
  const status = query.status === 'resolved' ? 'resolved' : 'open';
  const paged = usePaged((cursor) => admin.reports(status, cursor), status);
  return (
    <>
      <nav class="tabs" aria-label="Which reports">
        <a href="/moderation/reports" aria-current={status === 'open' ? 'page' : undefined}>
          Open
        </a>
        <a href="/moderation/reports?status=resolved" aria-current={status === 'resolved' ? 'page' : undefined}>
          Resolved
        </a>
      </nav>
      <div aria-live="polite">
        {paged.items.map((r) => (
          <ReportCard
            key={r.id}
            report={r}
            onResolved={(fresh) => paged.setItems((all) => (status === 'open' ? all.filter((x) => x.id !== fresh.id) : all.map((x) => (x.id === fresh.id ? fresh : x))))}
          />
        ))}
      </div>
      {!paged.loading && !paged.error && paged.items.length === 0 && (
        <Empty>{status === 'open' ? 'No open reports. All clear.' : 'No resolved reports yet.'}</Empty>
      )}
      <More paged={paged} />
    </>
  );
}

function OneReport({ id }: { id: string }) {
  const paged = usePaged(async () => ({ items: [await admin.report(id)], nextCursor: null }), `report:${id}`);
  return (
    <>
      <p class="crumbs">
        <a href="/moderation/reports">← All open reports</a>
      </p>
      {paged.items.map((r) => (
        <ReportCard key={r.id} report={r} onResolved={(fresh) => paged.setItems(() => [fresh])} />
      ))}
      <More paged={paged} />
    </>
  );
}

// ---- accounts ----

function states(u: AdminUser): string[] {
  const s: string[] = [];
  if (u.suspended) s.push('Suspended');
  if (u.silenced) s.push('Silenced');
  if (u.pending) s.push('Pending');
  if (!u.emailVerified) s.push('Email not confirmed');
  return s;
}

function AccountRow({ user, note, onChange }: { user: AdminUser; note: string; onChange: (u: AdminUser) => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [role, setRole] = useState<Role>((user.role as Role) ?? 'user');
  const amAdmin = roleOf(me.value) === 'admin';
  async function run(f: () => Promise<AdminUser>, done: string) {
    setBusy(true);
    setError(null);
    try {
      const u = await f();
      onChange(u);
      toast(done);
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  }
  const act = (a: AccountAction, words: string) => () => void run(() => admin.act(user.id, a, note.trim()), `${words} @${user.username}`);
  return (
    <li data-user-id={user.id}>
      <span>
        <strong>{displayName(user)}</strong> <a href={`/u/${user.username}`}>@{user.username}</a>
        <span class="state-tag">{user.role}</span>
        {states(user).map((s) => (
          <span key={s} class="state-tag state-bad">
            {s}
          </span>
        ))}
        <br />
        <span class="muted small">
          {user.email} · joined <Time iso={user.createdAt} />
        </span>
      </span>
      <span class="row">
        <button type="button" class="btn btn-small" disabled={busy} aria-label={`${user.suspended ? 'Unsuspend' : 'Suspend'} @${user.username}`} onClick={user.suspended ? act('unsuspend', 'Unsuspended') : act('suspend', 'Suspended')}>
          {user.suspended ? 'Unsuspend' : 'Suspend'}
        </button>
        <button type="button" class="btn btn-small" disabled={busy} aria-label={`${user.silenced ? 'Unsilence' : 'Silence'} @${user.username}`} onClick={user.silenced ? act('unsilence', 'Unsilenced') : act('silence', 'Silenced')}>
          {user.silenced ? 'Unsilence' : 'Silence'}
        </button>
        {amAdmin && (
          <span class="inline-form">
            <label class="visually-hidden" for={`role-${user.id}`}>
              Role of @{user.username}
            </label>
            <select id={`role-${user.id}`} value={role} onChange={(e) => setRole(e.currentTarget.value as Role)}>
              <option value="user">User</option>
              <option value="moderator">Moderator</option>
              <option value="admin">Admin</option>
            </select>
            <button type="button" class="btn btn-small" disabled={busy || role === user.role} onClick={() => void run(() => admin.setRole(user.id, role), `@${user.username} is now ${role === 'admin' ? 'an admin' : `a ${role}`}`)}>
              Set role
            </button>
          </span>
        )}
      </span>
      {error && (
        <span class="inline-error" role="alert">
          {error}
        </span>
      )}
    </li>
  );
}

function Accounts() {
  const [q, setQ] = useState('');
  const [status, setStatus] = useState<AccountStatus>('all');
  const [asked, setAsked] = useState({ q: '', status: 'all' as AccountStatus });
  const [note, setNote] = useState('');
  const paged = usePaged((cursor) => admin.users({ q: asked.q, status: asked.status, cursor, limit: 20 }), `${asked.status}:${asked.q}`);
  return (
    <>
      <form
        class="card inline-form"
        role="search"
        aria-label="Find accounts"
        onSubmit={(e) => {
          e.preventDefault();
          setAsked({ q: q.trim(), status });
        }}
      >
        <div class="field">
          <label for="acct-q">Username, name or email</label>
          <input id="acct-q" type="search" value={q} onInput={(e) => setQ(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="acct-status">Showing</label>
          <select id="acct-status" value={status} onChange={(e) => setStatus(e.currentTarget.value as AccountStatus)}>
            <option value="all">All accounts</option>
            <option value="suspended">Suspended</option>
            <option value="silenced">Silenced</option>
            <option value="pending">Pending approval</option>
          </select>
        </div>
        <button type="submit" class="btn btn-primary">
          Find
        </button>
      </form>
      <div class="card">
        <div class="field">
          <label for="acct-note">Note for the audit log (optional, used by the buttons below)</label>
          <input id="acct-note" type="text" maxLength={1000} value={note} onInput={(e) => setNote(e.currentTarget.value)} />
        </div>
        <ul class="plain-list" aria-label="Accounts">
          {paged.items.map((u) => (
            <AccountRow key={u.id} user={u} note={note} onChange={(n) => paged.setItems((all) => all.map((x) => (x.id === n.id ? n : x)))} />
          ))}
        </ul>
        {!paged.loading && !paged.error && paged.items.length === 0 && <Empty>No accounts match.</Empty>}
        <More paged={paged} />
      </div>
    </>
  );
}

// ---- registrations ----

function Registrations() {
  const paged = usePaged((cursor) => admin.registrations(cursor), 'registrations');
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [rejecting, setRejecting] = useState<string | null>(null);
  async function decide(u: AdminUser, approve: boolean) {
    setBusy(u.id);
    setError(null);
    try {
      if (approve) await admin.approve(u.id);
      else await admin.reject(u.id);
      paged.setItems((all) => all.filter((x) => x.id !== u.id));
      toast(approve ? `Approved @${u.username}` : `Rejected @${u.username}`);
      setRejecting(null);
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(null);
    }
  }
  return (
    <div class="card">
      <p class="muted">People waiting for approval, when the server asks for it.</p>
      <ErrorBox error={error} />
      <ul class="plain-list" aria-label="Pending registrations">
        {paged.items.map((u) => (
          <li key={u.id}>
            <span>
              <strong>{displayName(u)}</strong> <span class="muted">@{u.username}</span>
              <br />
              <span class="muted small">
                {u.email} · signed up <Time iso={u.createdAt} />
              </span>
            </span>
            {rejecting === u.id ? (
              <span class="confirm" role="group" aria-label={`Confirm rejecting @${u.username}`}>
                <span>Reject and delete this account?</span>
                <button type="button" class="btn btn-danger btn-small" disabled={busy !== null} onClick={() => void decide(u, false)}>
                  Reject
                </button>
                <button type="button" class="btn btn-small" onClick={() => setRejecting(null)}>
                  Cancel
                </button>
              </span>
            ) : (
              <span class="row">
                <button type="button" class="btn btn-primary btn-small" disabled={busy !== null} aria-label={`Approve @${u.username}`} onClick={() => void decide(u, true)}>
                  Approve
                </button>
                <button type="button" class="btn btn-small" disabled={busy !== null} aria-label={`Reject @${u.username}`} onClick={() => setRejecting(u.id)}>
                  Reject…
                </button>
              </span>
            )}
          </li>
        ))}
      </ul>
      {!paged.loading && !paged.error && paged.items.length === 0 && <Empty>Nobody is waiting.</Empty>}
      <More paged={paged} />
    </div>
  );
}

// ---- invites ----

async function copy(text: string, what: string) {
  try {
    await navigator.clipboard.writeText(text);
    toast(`${what} copied`);
  } catch {
    toast(`Could not copy. ${what}: ${text}`, 'error', undefined, 15_000);
  }
}

const EXPIRY: [number, string][] = [
  [24, '1 day'],
  [168, '7 days'],
  [720, '30 days'],
  [8760, '1 year'],
];

function Invites() {
  const paged = usePaged((cursor) => admin.invites(cursor), 'invites');
  const [uses, setUses] = useState('1');
  const [hours, setHours] = useState(168);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const link = (i: Invite) => `${location.origin}/register?invite=${encodeURIComponent(i.code)}`;
  async function create() {
    const n = Number(uses);
    if (!Number.isInteger(n) || n < 1 || n > 1000) {
      setError('Uses must be a whole number from 1 to 1000.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const i = await admin.createInvite(n, hours);
      paged.setItems((all) => [i, ...all]);
      toast('Invite created');
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  }
  async function revoke(i: Invite) {
    setError(null);
    try {
      await admin.revokeInvite(i.code);
      paged.setItems((all) => all.filter((x) => x.code !== i.code));
      toast('Invite revoked');
    } catch (e) {
      setError(errorMessage(e));
    }
  }
  return (
    <>
      <form
        class="card inline-form"
        aria-label="New invite"
        onSubmit={(e) => {
          e.preventDefault();
          void create();
        }}
      >
        <div class="field">
          <label for="inv-uses">Uses</label>
          <input id="inv-uses" type="number" min={1} max={1000} value={uses} onInput={(e) => setUses(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="inv-expiry">Expires after</label>
          <select id="inv-expiry" value={String(hours)} onChange={(e) => setHours(Number(e.currentTarget.value))}>
            {EXPIRY.map(([h, label]) => (
              <option key={h} value={String(h)}>
                {label}
              </option>
            ))}
          </select>
        </div>
        <button type="submit" class="btn btn-primary" disabled={busy}>
          {busy ? 'Creating…' : 'Create invite'}
        </button>
      </form>
      <ErrorBox error={error} />
      <div class="card">
        <ul class="plain-list" aria-label="Invites">
          {paged.items.map((i) => (
            <li key={i.code}>
              <span>
                <span class="code">{i.code}</span>
                <br />
                <span class="muted small">
                  used {i.uses} of {i.maxUses} · {Date.parse(i.expiresAt) < Date.now() ? 'expired' : 'expires'}{' '}
                  {new Date(i.expiresAt).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })} · by @{i.createdBy.username}
                </span>
              </span>
              <span class="row">
                <button type="button" class="btn btn-small" aria-label={`Copy the code ${i.code}`} onClick={() => void copy(i.code, 'Code')}>
                  Copy code
                </button>
                <button type="button" class="btn btn-small" aria-label={`Copy the link for ${i.code}`} onClick={() => void copy(link(i), 'Link')}>
                  Copy link
                </button>
                <button type="button" class="btn btn-small" aria-label={`Revoke ${i.code}`} onClick={() => void revoke(i)}>
                  Revoke
                </button>
              </span>
            </li>
          ))}
        </ul>
        {!paged.loading && !paged.error && paged.items.length === 0 && <Empty>No invites yet.</Empty>}
        <More paged={paged} />
      </div>
    </>
  );
}

// ---- audit ----

function Audit() {
  const paged = usePaged((cursor) => admin.audit(cursor), 'audit');
  return (
    <div class="card">
      <ul class="plain-list" aria-label="Audit log">
        {paged.items.map((a: AuditEntry) => (
          <li key={a.id}>
            <span>
              <Who user={a.moderator} />: {ACTION[a.action] ?? a.action}{' '}
              <span class="muted">
                ({a.targetType} {a.targetId})
              </span>
              {a.note && <> · “{a.note}”</>}
            </span>
            <span class="muted small">
              <Time iso={a.createdAt} />
            </span>
          </li>
        ))}
      </ul>
      {!paged.loading && !paged.error && paged.items.length === 0 && <Empty>Nothing yet.</Empty>}
      <More paged={paged} />
    </div>
  );
}

function Area({ tab, id }: { tab: string; id: string | null }) {
  const label = TABS.find(([k]) => k === tab)?.[1] ?? 'Moderation';
  useTitle(`Moderation: ${label}`);
  if (!isModerator(me.value)) {
    return (
      <div class="card">
        <h1>Moderation</h1>
        <p>This area is for the moderators of this server.</p>
      </div>
    );
  }
  let body;
  if (tab === 'reports') body = id ? <OneReport id={id} /> : <Reports />;
  else if (tab === 'accounts') body = <Accounts />;
  else if (tab === 'registrations') body = <Registrations />;
  else if (tab === 'invites') body = <Invites />;
  else if (tab === 'audit') body = <Audit />;
  else body = <Empty>There is no such page.</Empty>;
  return (
    <>
      <h1 class="page-title">Moderation</h1>
      <nav class="tabs settings-tabs" aria-label="Moderation">
        {TABS.map(([key, text]) => (
          <a key={key} href={`/moderation/${key}`} aria-current={key === tab ? 'page' : undefined}>
            {text}
          </a>
        ))}
      </nav>
      {body}
    </>
  );
}

export function ModerationPage({ tab, id }: { tab: string; id: string | null }) {
  return (
    <RequireAuth>
      <Area tab={tab} id={id} />
    </RequireAuth>
  );
}
