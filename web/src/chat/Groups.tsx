// Group chats: picking people, creating a group, and the owner's settings
// (rename, add and remove members, delete); everyone can leave.

import { useEffect, useId, useRef, useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { errorMessage } from '../api/client';
import { users } from '../api/endpoints';
import type { Author, User } from '../api/types';
import { Avatar, ErrorBox, Field, displayName } from '../components/ui';
import { me } from '../session';
import { toast } from '../toasts';
import { chat } from './api';
import type { ChatRoom } from './types';

/** Finds people by name with the user search API and offers them to add. */
export function UserPicker({
  exclude,
  onPick,
  label = 'Find people',
  busyId,
}: {
  exclude: string[];
  onPick: (u: User) => void;
  label?: string;
  busyId?: string | null;
}) {
  const id = useId();
  const [q, setQ] = useState('');
  const [found, setFound] = useState<User[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const text = q.trim();
    if (!text) {
      setFound(null);
      setError(null);
      return;
    }
    const ctl = new AbortController();
    const t = setTimeout(() => {
      users.search(text, { limit: 8 }, ctl.signal).then(
        (page) => {
          setFound(page.items);
          setError(null);
        },
        (e) => {
          if (!ctl.signal.aborted) setError(errorMessage(e));
        },
      );
    }, 250);
    return () => {
      clearTimeout(t);
      ctl.abort();
    };
  }, [q]);
  const shown = (found ?? []).filter((u) => !exclude.includes(u.id));
  return (
    <div class="user-picker">
      <label for={id}>{label}</label>
      <input id={id} type="search" value={q} placeholder="Name or @username" autoComplete="off" onInput={(e) => setQ(e.currentTarget.value)} />
      <ErrorBox error={error} />
      {found !== null && (
        <ul class="picker-results" aria-label="People found">
          {shown.length === 0 && <li class="muted small">Nobody else matches “{q.trim()}”.</li>}
          {shown.map((u) => (
            <li key={u.id}>
              <Avatar user={u} size={28} />
              <span class="picker-name">
                {displayName(u)} <span class="muted">@{u.username}</span>
              </span>
              <button type="button" class="btn btn-small" disabled={busyId === u.id} onClick={() => onPick(u)} aria-label={`Add ${displayName(u)}`}>
                Add
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** The form for a new group: a name and at least one other member. */
export function NewGroup({ onClose }: { onClose: () => void }) {
  const [name, setName] = useState('');
  const [members, setMembers] = useState<Author[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [nameError, setNameError] = useState<string | undefined>();
  const { route } = useLocation();
  async function submit(e: Event) {
    e.preventDefault();
    setError(null);
    setNameError(undefined);
    if (!name.trim()) {
      setNameError('Give the group a name.');
      return;
    }
    if (members.length === 0) {
      setError('Add at least one person to the group.');
      return;
    }
    setBusy(true);
    try {
      const room = await chat.createGroup(name.trim(), members.map((m) => m.id));
      onClose();
      route(`/messages/${encodeURIComponent(room.id)}`);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }
  return (
    <form class="new-group" aria-label="New group" onSubmit={submit}>
      <h2>New group</h2>
      <Field label="Group name" value={name} maxLength={100} error={nameError} onInput={(e) => setName(e.currentTarget.value)} />
      <UserPicker exclude={[me.value?.id ?? '', ...members.map((m) => m.id)]} onPick={(u) => setMembers((ms) => [...ms, u])} label="Add people" />
      {members.length > 0 && (
        <ul class="chips" aria-label="Chosen members">
          {members.map((m) => (
            <li key={m.id} class="chip">
              {displayName(m)}
              <button type="button" class="chip-x" aria-label={`Do not add ${displayName(m)}`} onClick={() => setMembers((ms) => ms.filter((x) => x.id !== m.id))}>
                ×
              </button>
            </li>
          ))}
        </ul>
      )}
      <ErrorBox error={error} />
      <div class="row">
        <button type="submit" class="btn btn-primary" disabled={busy}>
          {busy ? 'Creating…' : 'Create group'}
        </button>
        <button type="button" class="btn btn-ghost" onClick={onClose}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/** Members and settings of a group; owners may change it. */
export function GroupSettings({
  room,
  onChange,
  onGone,
  leaving,
}: {
  room: ChatRoom;
  onChange: (r: ChatRoom) => void;
  onGone: (why: string) => void;
  /** Set while this user leaves or deletes the group (its own goodbye comes from here). */
  leaving: { current: boolean };
}) {
  const myId = me.value?.id;
  const owner = room.ownerId === myId;
  const [name, setName] = useState(room.name ?? '');
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [confirm, setConfirm] = useState<'leave' | 'delete' | null>(null);
  // Follow a rename made elsewhere (not on mount: that could undo typing).
  const shownName = useRef(room.name);
  useEffect(() => {
    if (shownName.current !== room.name) setName(room.name ?? '');
    shownName.current = room.name;
  }, [room.name]);

  async function act(what: string, fn: () => Promise<void>) {
    setBusy(what);
    setError(null);
    try {
      await fn();
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(null);
    }
  }
  const rename = (e: Event) => {
    e.preventDefault();
    if (!name.trim()) {
      setError('A group needs a name.');
      return;
    }
    void act('rename', async () => {
      onChange(await chat.rename(room.id, name.trim()));
      toast('Group renamed');
    });
  };
  const add = (u: User) =>
    act(`add:${u.id}`, async () => {
      onChange(await chat.addMember(room.id, u.id));
    });
  const remove = (m: Author) =>
    act(`remove:${m.id}`, async () => {
      await chat.removeMember(room.id, m.id);
      onChange({ ...room, members: room.members.filter((x) => x.id !== m.id) });
    });
  const leave = () =>
    act('leave', async () => {
      leaving.current = true;
      try {
        await chat.removeMember(room.id, myId ?? '');
      } finally {
        leaving.current = false;
      }
      onGone(`You left ${room.name ?? 'the group'}.`);
    });
  const destroy = () =>
    act('delete', async () => {
      leaving.current = true;
      try {
        await chat.deleteRoom(room.id);
      } finally {
        leaving.current = false;
      }
      onGone(`The group ${room.name ?? ''} was deleted.`.replace('  ', ' '));
    });

  return (
    <section class="group-settings" aria-label="Group settings">
      {owner && (
        <form class="rename" onSubmit={rename}>
          <Field label="Group name" value={name} maxLength={100} onInput={(e) => setName(e.currentTarget.value)} />
          <button type="submit" class="btn btn-small" disabled={busy === 'rename' || name.trim() === (room.name ?? '')}>
            Rename
          </button>
        </form>
      )}
      <h3>
        Members ({room.members.length})
      </h3>
      <ul class="members">
        {room.members.map((m) => (
          <li key={m.id}>
            <Avatar user={m} size={28} />
            <span class="picker-name">
              {displayName(m)}
              {m.id === room.ownerId && <span class="muted"> (owner)</span>}
              {m.id === myId && <span class="muted"> (you)</span>}
            </span>
            {owner && m.id !== myId && (
              <button type="button" class="btn btn-small" disabled={busy === `remove:${m.id}`} onClick={() => void remove(m)} aria-label={`Remove ${displayName(m)} from the group`}>
                Remove
              </button>
            )}
          </li>
        ))}
      </ul>
      {owner && (
        <UserPicker exclude={room.members.map((m) => m.id)} onPick={(u) => void add(u)} label="Add a member" busyId={busy?.startsWith('add:') ? busy.slice(4) : null} />
      )}
      <ErrorBox error={error} />
      {confirm ? (
        <div class="confirm" role="group" aria-label={confirm === 'leave' ? 'Confirm leaving' : 'Confirm deletion'}>
          <span>{confirm === 'leave' ? 'Leave this group?' : 'Delete this group and all its messages for everyone?'}</span>
          <button type="button" class="btn btn-danger btn-small" disabled={busy !== null} onClick={() => void (confirm === 'leave' ? leave() : destroy())}>
            {confirm === 'leave' ? 'Leave group' : 'Delete group'}
          </button>
          <button type="button" class="btn btn-small" onClick={() => setConfirm(null)}>
            Cancel
          </button>
        </div>
      ) : (
        <div class="row">
          <button type="button" class="btn btn-small" onClick={() => setConfirm('leave')}>
            Leave…
          </button>
          {owner && (
            <button type="button" class="btn btn-small" onClick={() => setConfirm('delete')}>
              Delete…
            </button>
          )}
        </div>
      )}
    </section>
  );
}
