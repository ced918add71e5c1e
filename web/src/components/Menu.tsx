// A menu button (the "more" menu on posts, comments and profiles): Enter,
// Space or ArrowDown opens it with focus on the first item, arrows, Home and
// End move, Escape closes it back onto the button, Tab leaves it.

import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';

export interface MenuItem {
  label: string;
  onSelect: () => void;
  danger?: boolean;
}

export function MenuButton({
  label,
  items,
  align = 'right',
  menuLabel = label,
  kind = 'more',
}: {
  /** The button's accessible name. */
  label: string;
  items: MenuItem[];
  align?: 'left' | 'right';
  /** The menu's accessible name (the button's unless told). */
  menuLabel?: string;
  /** Its look: the more menu, or the chat's per-message menu. */
  kind?: 'more' | 'msg';
}) {
  const [open, setOpen] = useState(false);
  const button = useRef<HTMLButtonElement>(null);
  const menu = useRef<HTMLDivElement>(null);
  const all = () => [...(menu.current?.querySelectorAll<HTMLButtonElement>('[role=menuitem]') ?? [])];
  useLayoutEffect(() => {
    if (open) all()[0]?.focus();
  }, [open]);
  useEffect(() => {
    if (!open) return;
    const outside = (e: MouseEvent) => {
      if (!menu.current?.contains(e.target as Node) && !button.current?.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener('mousedown', outside);
    return () => document.removeEventListener('mousedown', outside);
  }, [open]);
  if (items.length === 0) return null;
  const close = (refocus = true) => {
    setOpen(false);
    if (refocus) button.current?.focus();
  };
  const onKey = (e: KeyboardEvent) => {
    const list = all();
    const at = list.indexOf(document.activeElement as HTMLButtonElement);
    if (e.key === 'Escape') {
      e.preventDefault();
      close();
    } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      list[(at + (e.key === 'ArrowDown' ? 1 : list.length - 1)) % list.length]?.focus();
    } else if (e.key === 'Home' || e.key === 'End') {
      e.preventDefault();
      list[e.key === 'Home' ? 0 : list.length - 1]?.focus();
    } else if (e.key === 'Tab') {
      close(false);
    }
  };
  return (
    // Keys are handled on the wrapper, so Escape works from the button too.
    <div class={`${kind}-menu`} onKeyDown={(e) => open && onKey(e)}>
      <button
        ref={button}
        type="button"
        class={`icon-btn ${kind}-menu-btn`}
        aria-haspopup="menu"
        aria-expanded={open}
        aria-label={label}
        title={kind === 'more' ? 'More' : undefined}
        onClick={() => setOpen(!open)}
        onKeyDown={(e) => {
          if (e.key === 'ArrowDown' && !open) {
            e.preventDefault();
            setOpen(true);
          }
        }}
      >
        <span aria-hidden="true">⋯</span>
      </button>
      {open && (
        <div ref={menu} class={`menu${align === 'right' ? ' menu-right' : ''}`} role="menu" aria-label={menuLabel}>
          {items.map((item) => (
            <button
              key={item.label}
              type="button"
              role="menuitem"
              tabIndex={-1}
              class={item.danger ? 'danger' : undefined}
              onClick={() => {
                close();
                item.onSelect();
              }}
            >
              {item.label}
            </button>
          ))}
        </div>
      )}
    </div>
  );
}
