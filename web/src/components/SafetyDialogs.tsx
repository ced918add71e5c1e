// The dialogs of the more menu, loaded when one is first opened: reporting a
// post, comment, message or account to the moderators (a reason and an
// optional comment), and confirming a block.

import { useState } from 'preact/hooks';
import { errorMessage } from '../api/client';
import { reports } from '../api/admin';
import { type ReportReason, type ReportTargetType, relations } from '../api/safety';
import type { Author, User } from '../api/types';
import { toast } from '../toasts';
import { Dialog } from './Dialog';
import { ErrorBox, displayName } from './ui';

const REASONS: { value: ReportReason; label: string; hint: string }[] = [
  { value: 'spam', label: 'Spam', hint: 'Advertising, scams, the same thing over and over' },
  { value: 'harassment', label: 'Harassment', hint: 'Abuse, threats or hate aimed at someone' },
  { value: 'illegal', label: 'Illegal content', hint: 'Something against the law' },
  { value: 'other', label: 'Something else', hint: 'Tell the moderators below' },
];
const MAX_COMMENT = 1000;

export interface ReportTarget {
  type: ReportTargetType;
  id: string;
  /** "this post", "@bob", ... */
  what: string;
}

export function ReportDialog({ target, onClose }: { target: ReportTarget; onClose: () => void }) {
  const [reason, setReason] = useState<ReportReason | null>(null);
  const [comment, setComment] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function send() {
    if (!reason) {
      setError('Choose a reason.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await reports.create({ targetType: target.type, targetId: target.id, reason, comment: comment.trim() || undefined });
      toast('Thank you. Your report was sent to the moderators.');
      onClose();
    } catch (e) {
      setError(errorMessage(e));
      setBusy(false);
    }
  }
  return (
    <Dialog title={`Report ${target.what}`} onClose={onClose}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void send();
        }}
      >
        <fieldset class="choices">
          <legend>Why are you reporting it?</legend>
          {REASONS.map((r) => (
            <label key={r.value} class="choice">
              <input type="radio" name="reason" value={r.value} checked={reason === r.value} onChange={() => setReason(r.value)} />
              <span>
                <strong>{r.label}</strong>
                <small class="hint">{r.hint}</small>
              </span>
            </label>
          ))}
        </fieldset>
        <div class="field">
          <label for="report-comment">Anything the moderators should know (optional)</label>
          <textarea id="report-comment" rows={3} maxLength={MAX_COMMENT} value={comment} aria-describedby="report-comment-hint" onInput={(e) => setComment(e.currentTarget.value)} />
          <small id="report-comment-hint" class="hint">
            {MAX_COMMENT - comment.length} characters left. Only moderators see your report.
          </small>
        </div>
        <ErrorBox error={error} />
        <div class="row dialog-buttons">
          <button type="submit" class="btn btn-primary" disabled={busy}>
            {busy ? 'Sending…' : 'Send report'}
          </button>
          <button type="button" class="btn" onClick={onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export function BlockDialog({ user, onDone, onClose }: { user: Author; onDone: (u: User) => void; onClose: () => void }) {
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
