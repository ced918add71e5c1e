// Starling's service worker: shows Web Push notifications and opens the
// right page when one is clicked. Served at /sw.js (root scope) and
// revalidated on every load, so a new version is picked up promptly. It
// caches nothing: the app works as before without it.
//
// Push payload (JSON): {title, body, tag, notificationId, type, postId, roomId}.

self.addEventListener('install', () => {
  self.skipWaiting();
});

self.addEventListener('activate', (event) => {
  event.waitUntil(self.clients.claim());
});

/** The page a notification leads to: its chat room, its post, or the notifications list. */
function pageFor(data) {
  if (data && data.roomId !== undefined && data.roomId !== null) return `/messages/${encodeURIComponent(String(data.roomId))}`;
  if (data && data.postId !== undefined && data.postId !== null) return `/p/${encodeURIComponent(String(data.postId))}`;
  return '/notifications';
}

self.addEventListener('push', (event) => {
  let data = {};
  if (event.data) {
    try {
      data = event.data.json() || {};
    } catch {
      data = { body: event.data.text() };
    }
  }
  const title = typeof data.title === 'string' && data.title ? data.title : 'Starling';
  const options = {
    body: typeof data.body === 'string' ? data.body : '',
    tag: typeof data.tag === 'string' && data.tag ? data.tag : undefined,
    icon: '/favicon.svg',
    badge: '/favicon.svg',
    data: { url: pageFor(data), notificationId: data.notificationId ?? null },
  };
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const path = (event.notification.data && event.notification.data.url) || '/notifications';
  const url = new URL(path, self.location.origin).href;
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      // A tab already there: bring it forward.
      const exact = windows.find((c) => c.url === url);
      if (exact) return exact.focus();
      // Another tab of the app: bring it forward and take it there.
      const ours = windows.find((c) => new URL(c.url).origin === self.location.origin);
      if (ours) {
        try {
          const focused = await ours.focus();
          const moved = await focused.navigate(url);
          if (moved) return moved;
        } catch {
          /* an uncontrolled tab cannot be navigated from here: open a new one */
        }
      }
      return self.clients.openWindow(url);
    })(),
  );
});
