// The "more" menu on posts, comments and profiles: report, mute and block
// (block asks first), unmute and unblock where the state is known. The
// dialogs' code (SafetyDialogs) is loaded when one is first needed.

import { useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { errorMessage } from '../api/client';
import { relations } from '../api/safety';
import type { Author, User } from '../api/types';
import { me, signedIn } from '../session';
import { toast } from '../toasts';
import { type MenuItem, MenuButton } from './Menu';
import type { ReportTarget } from './SafetyDialogs';

type Dialogs = typeof import('./SafetyDialogs');
type Open = { kind: 'report'; target: ReportTarget } | { kind: 'block'; user: Author; onDone: (u: User) => void };
let loaded: Dialogs | null = null;

/** The report and block dialogs, their code loaded when one is first opened. */
function useDialogs() {
  const [mod, setMod] = useState<Dialogs | null>(loaded);
  const [open, setOpen] = useState<Open | null>(null);
  const show = (o: Open) => {
    if (loaded) {
      setMod(loaded);
      setOpen(o);
      return;
    }
    import('./SafetyDialogs').then(
      (m) => {
        loaded = m;
        setMod(m);
        setOpen(o);
      },
      (e: unknown) => toast(`This could not be loaded: ${errorMessage(e)}`, 'error'),
    );
  };
  const close = () => setOpen(null);
  let dialog = null;
  if (open && mod) {
    dialog =
      open.kind === 'report' ? (
        <mod.ReportDialog target={open.target} onClose={close} />
      ) : (
        <mod.BlockDialog user={open.user} onClose={close} onDone={open.onDone} />
      );
  }
  return { show, dialog };
}

/** Opens the report dialog for a target; render `dialog` where it belongs. */
export function useReport() {
  const d = useDialogs();
  return { open: (target: ReportTarget) => d.show({ kind: 'report', target }), dialog: d.dialog };
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
  const dialogs = useDialogs();
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
  if (report && !self) items.push({ label: `Report ${report.what}`, onSelect: () => needSignIn() || dialogs.show({ kind: 'report', target: report }) });
  if (!self) {
    if (state?.muting) items.push({ label: `Unmute @${user.username}`, onSelect: () => void mute(false) });
    else items.push({ label: `Mute @${user.username}`, onSelect: () => needSignIn() || void mute(true) });
    if (state?.blocking) items.push({ label: `Unblock @${user.username}`, onSelect: () => void unblock() });
    else items.push({ label: `Block @${user.username}…`, danger: true, onSelect: () => needSignIn() || dialogs.show({ kind: 'block', user, onDone: (u) => onChange?.(u, 'block') }) });
  }
  return (
    <>
      <MenuButton label={`More actions for ${label}`} items={items} />
      {error && (
        <span class="inline-error" role="alert">
          {error}
        </span>
      )}
      {dialogs.dialog}
    </>
  );
}
