// Short messages in a corner: confirmations now, live notifications later.

import { signal } from '@preact/signals';

export interface Toast {
  id: number;
  text: string;
  kind: 'info' | 'error';
  /** Optional link the toast leads to (e.g. a notification's post). */
  href?: string;
}

export const toasts = signal<Toast[]>([]);
let next = 1;

export function dismiss(id: number) {
  toasts.value = toasts.value.filter((t) => t.id !== id);
}

export function toast(text: string, kind: Toast['kind'] = 'info', href?: string, ms = 5000) {
  const id = next++;
  toasts.value = [...toasts.value.slice(-3), { id, text, kind, href }];
  setTimeout(() => dismiss(id), ms);
}
