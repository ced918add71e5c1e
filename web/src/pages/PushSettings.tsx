// Settings: Web Push for this browser (loaded with the settings page's
// section, not with the app).

import { useEffect, useState } from 'preact/hooks';
import { errorMessage } from '../api/client';
import { ErrorBox } from '../components/ui';
import { disable, enable, isOn, permission, unsupported } from '../push';
import { me } from '../session';
import { toast } from '../toasts';

export function PushSettings() {
  const user = me.value;
  const [on, setOn] = useState<boolean | null>(null); // null: still finding out
  const [want, setWant] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const userId = user?.id ?? '';
  useEffect(() => {
    setOn(null);
    isOn(userId).then(setOn, () => setOn(false));
  }, [userId]);
  if (!user) return null;

  const why = unsupported();
  const perm = why ? null : permission();

  async function toggle(next: boolean) {
    setWant(next);
    setBusy(true);
    setError(null);
    try {
      if (next) {
        await enable(userId);
        setOn(true);
        toast('Browser notifications are on');
      } else {
        await disable(userId);
        setOn(false);
        toast('Browser notifications are off');
      }
    } catch (e) {
      setError(errorMessage(e));
      setOn(await isOn(userId).catch(() => false));
    } finally {
      setBusy(false);
    }
  }

  let state: string;
  if (on === null) state = 'Checking this browser…';
  else if (why) state = why;
  else if (busy) state = want ? 'Turning on…' : 'Turning off…';
  else if (on) state = 'On: this browser shows your notifications while Starling is not open.';
  else if (perm === 'denied') state = 'Off: notifications are blocked for this site in your browser’s settings.';
  else state = 'Off.';

  return (
    <section class="card settings-section" aria-labelledby="push-heading">
      <h2 id="push-heading">Browser notifications</h2>
      <p class="muted">
        Get a notification from your browser when someone loves or comments on your posts, mentions you or follows
        you, even while Starling is not open. While it is open, they appear in the corner of the page instead.
      </p>
      <label class="switch">
        <input
          type="checkbox"
          role="switch"
          checked={busy ? want : on === true}
          disabled={busy || on === null || why !== null}
          aria-describedby="push-state"
          onChange={(e) => void toggle(e.currentTarget.checked)}
        />
        <span>Notify me in this browser</span>
      </label>
      <p id="push-state" class="hint push-state" role="status">
        {state}
      </p>
      <ErrorBox error={error} />
    </section>
  );
}
