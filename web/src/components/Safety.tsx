// The "more" menu on posts, comments and profiles: report, mute and block
// (block asks first), unmute and unblock where the state is known. The
// report dialog's code is loaded when first needed.

import type { ComponentType } from 'preact';
import { useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { errorMessage } from '../api/client';
import { relations } from '../api/safety';
import type { Author, User } from '../api/types';
import { me, signedIn } from '../session';
import { toast } from '../toasts';
import { Dialog } from './Dialog';
import { type MenuItem, MenuButton } from './Menu';
import type { ReportTarget } from './ReportDialog';
import { ErrorBox, displayName } from './ui';

type ReportDialogType = ComponentType<{ target: ReportTarget; onClose: () => void }>;
let loadedDialog: ReportDialogType | null = null;

/** Opens the report dialog for `target` (loading its code the first time). */
export function useReport() {
  const [target, setTarget] = useState<ReportTarget | null>(null);
  const [Dlg, setDlg] = useState<ReportDialogType | null>(() => loadedDialog);
  const open = (t: ReportTarget) => {
    if (loadedDialog) {
      setTarget(t);
      return;
    }
    import('./ReportDialog').then(
      (m) => {
        loadedDialog = m.ReportDialog;
        setDlg(() => m.ReportDialog);
        setTarget(t);
      },
      (e: unknown) => toast(`The report form could not be loaded: ${errorMessage(e)}`, 'error'),
    );
  };
  const dialog = target && Dlg ? <Dlg target={target} onClose={() => setTarget(null)} /> : null;
  return { open, dialog };
}

function BlockDialog({ user, onDone, onClose }: { user: Author; onDone: (u: User) => void; onClose: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function block() {
    setBusy(true);
    setError(null);
    try {
      const u = await relations.block(user.id, true);
      toast(`You blocked @${user.username}`);
      onClose();
      onDone(u);
    } catch (e) {
      setError(errorMessage(e));
      setBusy(false);
    }
  }
  return (
    <Dialog title={`Block @${user.username}?`} onClose={onClose}>
      <p>
        {displayName(user)} will not be able to follow you, comment on or love your posts, or message you, and you will
        not see their posts. They are not told. You can unblock them at any time.
      </p>
      <ErrorBox error={error} />
      <div class="row dialog-buttons">
        <button type="button" class="btn btn-danger" disabled={busy} onClick={block}>
          {busy ? 'Blocking…' : 'Block'}
        </button>
        <button type="button" class="btn" autoFocus onClick={onClose}>
          Cancel
        </button>
      </div>
    </Dialog>
  );
}

export interface SafetyMenuProps {
  /** What the menu is about, for its name: "the post by Bob". */
  label: string;
  /** The reported thing; absent: nothing to report (e.g. your own). */
  report?: ReportTarget;
  /** The person behind it: mute and block act on them. */
  user: Author;
  /** Their current state, when known (profiles): offers unmute and unblock. */
  state?: { blocking: boolean; muting: boolean };
  /** After a block, mute, unblock or unmute, with the server's answer. */
  onChange?: (u: User, what: 'block' | 'unblock' | 'mute' | 'unmute') => void;
}

export function SafetyMenu({ label, report, user, state, onChange }: SafetyMenuProps) {
  const rep = useReport();
  const [blocking, setBlocking] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const { route, url } = useLocation();
  const self = me.value?.id === user.id;
  if (self && !report) return null;

  const needSignIn = () => {
    if (signedIn.value) return false;
    route(`/login?next=${encodeURIComponent(url)}`);
    return true;
  };
  async function mute(on: boolean) {
    setError(null);
    try {
      const u = await relations.mute(user.id, on);
      toast(on ? `You muted @${user.username}: their posts no longer show in your feeds` : `You unmuted @${user.username}`);
      onChange?.(u, on ? 'mute' : 'unmute');
    } catch (e) {
      setError(errorMessage(e));
    }
  }
  async function unblock() {
    setError(null);
    try {
      const u = await relations.block(user.id, false);
      toast(`You unblocked @${user.username}`);
      onChange?.(u, 'unblock');
    } catch (e) {
      setError(errorMessage(e));
    }
  }

  const items: MenuItem[] = [];
  if (report && !self) items.push({ label: `Report ${report.what}`, onSelect: () => needSignIn() || rep.open(report) });
  if (!self) {
    if (state?.muting) items.push({ label: `Unmute @${user.username}`, onSelect: () => void mute(false) });
    else items.push({ label: `Mute @${user.username}`, onSelect: () => needSignIn() || void mute(true) });
    if (state?.blocking) items.push({ label: `Unblock @${user.username}`, onSelect: () => void unblock() });
    else items.push({ label: `Block @${user.username}…`, danger: true, onSelect: () => needSignIn() || setBlocking(true) });
  }
  return (
    <>
      <MenuButton label={`More actions for ${label}`} items={items} />
      {error && (
        <span class="inline-error" role="alert">
          {error}
        </span>
      )}
      {rep.dialog}
      {blocking && <BlockDialog user={user} onClose={() => setBlocking(false)} onDone={(u) => onChange?.(u, 'block')} />}
    </>
  );
}
