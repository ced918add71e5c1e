// The navigation bar's entries. Later features add theirs here: the
// messenger comes with a live `badge` count like the notifications bell.

import type { ReadonlySignal } from '@preact/signals';
import { unreadTotal } from './chat/store';
import type { IconName } from './components/Icon';
import { isModerator } from './api/safety';
import { unread } from './notifications';
import { me } from './session';

export interface NavItem {
  href: string;
  label: string;
  icon: IconName;
  /** Only shown when signed in. */
  auth?: boolean;
  /** An unread count shown on the icon (hidden at 0). */
  badge?: ReadonlySignal<number>;
  /** Only shown while this is true (read in render, so signals keep it current). */
  when?: () => boolean;
}

export const navItems: NavItem[] = [
  { href: '/', label: 'Home', icon: 'home', auth: true },
  { href: '/community', label: 'Community', icon: 'globe' },
  { href: '/messages', label: 'Messages', icon: 'chat', auth: true, badge: unreadTotal },
  { href: '/search', label: 'Search', icon: 'search' },
  { href: '/notifications', label: 'Notifications', icon: 'bell', auth: true, badge: unread },
  { href: '/moderation', label: 'Moderation', icon: 'shield', auth: true, when: () => isModerator(me.value) },
];
