// "Message" on a profile: opens (or creates) the direct room with that person.

import { useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { errorMessage } from '../api/client';
import type { User } from '../api/types';
import { displayName } from '../components/ui';
import { me, signedIn } from '../session';
import { chat } from './api';

export function MessageButton({ user }: { user: User }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const { route, url } = useLocation();
  if (me.value?.id === user.id) return null;
  async function click() {
    if (!signedIn.value) {
      route(`/login?next=${encodeURIComponent(url)}`);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const room = await chat.direct(user.id);
      route(`/messages/${encodeURIComponent(room.id)}`);
    } catch (e) {
      setError(errorMessage(e));
      setBusy(false);
    }
  }
  return (
    <span class="follow">
      <button type="button" class="btn" aria-label={`Message ${displayName(user)}`} disabled={busy} onClick={click}>
        Message
      </button>
      {error && (
        <span class="inline-error" role="alert">
          {error}
        </span>
      )}
    </span>
  );
}
