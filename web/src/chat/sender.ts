// Who sent a message: kept apart from util.ts because the chat store (loaded
// with the app) needs it without the messenger's other helpers.

import type { Author } from '../api/types';
import type { ChatMessage } from './types';

/** A message's sender, or null once their account was deleted (`senderId: null`). */
export function senderOf(m: ChatMessage): Author | null {
  const x = m as ChatMessage & { senderId?: string | null; sender?: Author | null };
  if (x.senderId === null || !x.sender) return null;
  return x.sender;
}

export const senderIdOf = (m: ChatMessage): string | null => senderOf(m)?.id ?? null;
