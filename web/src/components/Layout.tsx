import type { ComponentChildren } from 'preact';
import { useLocation } from 'preact-iso';
import { navItems } from '../nav';
import { me, signedIn, status } from '../session';
import { dismiss, toasts } from '../toasts';
import { Icon } from './Icon';
import { Avatar, displayName } from './ui';

function isCurrent(href: string, path: string) {
  return href === '/' ? path === '/' : path === href || path.startsWith(`${href}/`);
}

function NavBar() {
  const { path } = useLocation();
  const items = navItems.filter((i) => (!i.auth || signedIn.value) && (!i.when || i.when()));
  return (
    <nav class={items.length > 5 ? 'nav nav-many' : 'nav'} aria-label="Main">
      <ul>
        {items.map((item) => {
          const badge = item.badge?.value ?? 0;
          return (
            <li key={item.href}>
              <a
                href={item.href}
                aria-current={isCurrent(item.href, path) ? 'page' : undefined}
                aria-label={badge > 0 ? `${item.label} (${badge} unread)` : undefined}
                title={items.length > 5 ? item.label : undefined}
              >
                <span class="nav-icon">
                  <Icon name={item.icon} size={22} />
                  {badge > 0 && <span class="badge">{badge > 99 ? '99+' : badge}</span>}
                </span>
                <span class="nav-label">{item.label}</span>
              </a>
            </li>
          );
        })}
      </ul>
    </nav>
  );
}

function Account() {
  const user = me.value;
  if (status.value === 'loading') return <div class="account" />;
  if (!signedIn.value || !user) {
    return (
      <div class="account">
        <a class="btn btn-ghost" href="/login">
          Log in
        </a>
        <a class="btn btn-primary" href="/register">
          Sign up
        </a>
      </div>
    );
  }
  return (
    <div class="account">
      <a class="account-me" href={`/u/${user.username}`} title="Your profile" aria-label={`${displayName(user)}, your profile`}>
        <Avatar user={user} size={32} />
        <span class="account-name">{displayName(user)}</span>
      </a>
      <a class="icon-btn" href="/settings" aria-label="Settings" title="Settings">
        <Icon name="settings" />
      </a>
      <a class="icon-btn" href="/logout" aria-label="Log out" title="Log out">
        <Icon name="logout" />
      </a>
    </div>
  );
}

function Toasts() {
  return (
    <div class="toasts" aria-live="polite">
      {toasts.value.map((t) => (
        <div key={t.id} class={`toast toast-${t.kind}`} role={t.kind === 'error' ? 'alert' : 'status'}>
          {t.href ? <a href={t.href}>{t.text}</a> : <span>{t.text}</span>}
          <button type="button" class="icon-btn" aria-label="Dismiss" onClick={() => dismiss(t.id)}>
            <Icon name="close" size={16} />
          </button>
        </div>
      ))}
    </div>
  );
}

export function Layout({ children }: { children: ComponentChildren }) {
  return (
    <>
      <a class="skip-link" href="#main" target="_self" onClick={(e) => {
        e.preventDefault();
        document.getElementById('main')?.focus();
      }}>
        Skip to content
      </a>
      <header class="topbar">
        <div class="topbar-inner">
          <a class="brand" href="/" aria-label="Starling, home">
            <img src="/favicon.svg" width={28} height={28} alt="" />
            <span>Starling</span>
          </a>
          <NavBar />
          <Account />
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
      <Toasts />
    </>
  );
}
