// Notifications end to end in a real browser: Ada (desktop) gets notified
// live while Bob (phone) follows her, loves and comments on her post and
// mentions her; she reads them on the notifications page, and turns on
// browser push in her settings. Every step checks what is on the screen.
// Screenshots go to web/e2e-output/.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  DESKTOP,
  PHONE,
  apiClient,
  bell,
  eventually,
  launchBrowser,
  expectUnread,
  openPerson,
  register,
  shots,
  skipWithoutChromium,
  startServer,
} from './support.mjs';

describe('notifications in the browser', { skip: skipWithoutChromium }, () => {
  let server;
  let browser;
  let ada; // desktop, notifications permission granted
  let bob; // phone
  let postPath;
  let bobToken;
  const api = (...args) => apiClient(server.base)(...args);
  const adaToken = async () =>
    (await api('POST', '/api/auth/login', null, { login: 'ada', password: 'correct horse battery' })).accessToken;
  const isStream = (r) => r.url().endsWith('/api/notifications/stream');
  const items = (page) => page.locator('li.notif');
  const unreadItems = (page) => page.locator('li.notif.unread');

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    ada = await openPerson(browser, server.base, DESKTOP, { permissions: ['notifications'] });
    bob = await openPerson(browser, server.base, PHONE);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('registers two people; the bell shows no count', async () => {
    for (const [who, username, name] of [
      [ada, 'ada', 'Ada Lovelace'],
      [bob, 'bob', 'Bob Babbage'],
    ]) {
      const { page } = who;
      await register(page, username, name);
      await bell(page).waitFor();
      await expectUnread(page, 0);
    }
    // Signed out, there is no bell.
    const anon = await browser.newContext({ baseURL: server.base });
    const p = await anon.newPage();
    await p.goto('/community');
    await p.getByRole('link', { name: 'Community' }).waitFor();
    assert.equal(await bell(p).count(), 0);
    await anon.close();
  });

  it("bob follows ada: her bell rises without a reload and a toast links to bob", async () => {
    const { page } = ada;
    await page.evaluate(() => {
      window.__sameDocument = true;
    });
    await bob.page.goto('/u/ada');
    await bob.page.getByRole('button', { name: 'Follow Ada Lovelace' }).click();
    await bob.page.getByRole('button', { name: 'Unfollow Ada Lovelace' }).waitFor();

    await expectUnread(page, 1);
    const toast = page.locator('.toast').filter({ hasText: 'Bob Babbage started following you' });
    await toast.waitFor();
    assert.equal(await toast.getByRole('link').getAttribute('href'), '/u/bob');
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page was not reloaded');
  });

  it('bob loves and comments on her post: two more, each announced', async () => {
    const { page } = ada;
    await page.getByRole('textbox', { name: "What's happening?" }).fill('The analytical engine weaves algebraic patterns');
    await page.getByRole('button', { name: 'Post', exact: true }).click();
    const card = page.locator('article.post').filter({ hasText: 'algebraic patterns' });
    await card.waitFor();
    postPath = await card.getByRole('link', { name: /Open post/ }).getAttribute('href');
    assert.match(postPath, /^\/p\/\d+$/);

    await bob.page.goto(postPath);
    const love = bob.page.getByRole('button', { name: /Love this post/ });
    await love.click();
    await eventually(async () => assert.equal(await love.getAttribute('aria-pressed'), 'true'));
    await expectUnread(page, 2);
    const loved = page.locator('.toast').filter({ hasText: 'Bob Babbage loved your post' });
    await loved.waitFor();
    assert.equal(await loved.getByRole('link').getAttribute('href'), postPath);

    await bob.page.getByRole('textbox', { name: 'Write a comment' }).fill('Like a Jacquard loom!');
    await bob.page.getByRole('button', { name: 'Comment', exact: true }).click();
    await bob.page.locator('li.comment').filter({ hasText: 'Like a Jacquard loom!' }).waitFor();
    await expectUnread(page, 3);
    const commented = page.locator('.toast').filter({ hasText: 'Bob Babbage commented on your post' });
    await commented.waitFor();
    assert.equal(await commented.getByRole('link').getAttribute('href'), `${postPath}#comments`);
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page was not reloaded');
  });

  it('ada opens the notifications page from the bell and sees them, newest first', async () => {
    const { page } = ada;
    await bell(page).click();
    await page.getByRole('heading', { name: 'Notifications', level: 1 }).waitFor();
    await eventually(async () => assert.equal(await items(page).count(), 3));
    assert.equal(await unreadItems(page).count(), 3);
    const texts = (await items(page).locator('.notif-text').allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim());
    assert.deepEqual(texts, [
      'Unread: Bob Babbage commented on your post',
      'Unread: Bob Babbage loved your post',
      'Unread: Bob Babbage started following you',
    ]);
    await items(page).first().getByText('Like a Jacquard loom!').waitFor();
    await items(page).nth(1).getByText('The analytical engine weaves algebraic patterns').waitFor();
    assert.equal(await bell(page).getAttribute('aria-current'), 'page');
  });

  it('a new one arrives at the top while the page is open', async () => {
    const { page } = ada;
    await bob.page.goto('/');
    await bob.page.getByRole('textbox', { name: "What's happening?" }).fill('Reading the notes by @ada on the engine');
    await bob.page.getByRole('button', { name: 'Post', exact: true }).click();
    await bob.page.locator('article.post').filter({ hasText: 'Reading the notes by' }).waitFor();

    await expectUnread(page, 4);
    await eventually(async () => assert.equal(await items(page).count(), 4));
    assert.match(await items(page).first().textContent(), /Bob Babbage mentioned you in a post/);
    await items(page).first().getByText('Reading the notes by @ada on the engine').waitFor();
    assert.equal(await unreadItems(page).count(), 4);
    // On this page the list itself shows it: no toast.
    assert.equal(await page.locator('.toast').filter({ hasText: 'mentioned you' }).count(), 0);
  });

  it('opening one marks it read; so does its check button', async () => {
    const { page } = ada;
    await items(page).filter({ hasText: 'loved your post' }).getByRole('link').click();
    await page.waitForURL(`**${postPath}`);
    await page.locator('article.post').filter({ hasText: 'algebraic patterns' }).waitFor();
    await expectUnread(page, 3);

    await page.goBack();
    await page.getByRole('heading', { name: 'Notifications', level: 1 }).waitFor();
    await eventually(async () => assert.equal(await items(page).count(), 4));
    const lovedItem = items(page).filter({ hasText: 'loved your post' });
    assert.equal(await lovedItem.evaluate((el) => el.classList.contains('unread')), false);
    assert.equal(await unreadItems(page).count(), 3);

    const follow = items(page).filter({ hasText: 'started following you' });
    await follow.getByRole('button', { name: 'Mark as read: Bob Babbage started following you' }).click();
    await expectUnread(page, 2);
    await eventually(async () => assert.equal(await follow.evaluate((el) => el.classList.contains('unread')), false));
    assert.equal(await follow.getByRole('button', { name: /Mark as read/ }).count(), 0);
    await shots(page, 'notifications');
  });

  it('the unread filter, then "Mark all read"', async () => {
    const { page } = ada;
    const tabs = page.getByRole('navigation', { name: 'Which notifications' });
    await tabs.getByRole('link', { name: 'Unread (2)' }).click();
    await page.waitForURL('**/notifications?unread=1');
    await eventually(async () => assert.equal(await items(page).count(), 2));
    const texts = await items(page).locator('.notif-text').allTextContents();
    assert.match(texts[0], /mentioned you in a post/);
    assert.match(texts[1], /commented on your post/);
    assert.equal(await tabs.getByRole('link', { name: 'Unread (2)' }).getAttribute('aria-current'), 'page');

    await page.getByRole('button', { name: 'Mark all read' }).click();
    await expectUnread(page, 0);
    await eventually(async () => assert.equal(await unreadItems(page).count(), 0));
    assert.ok(await page.getByRole('button', { name: 'Mark all read' }).isDisabled());
    await tabs.getByRole('link', { name: 'Unread', exact: true }).waitFor();

    await page.reload();
    await page.getByText('No unread notifications. You are all caught up.').waitFor();
    assert.equal(await items(page).count(), 0);
    await tabs.getByRole('link', { name: 'All' }).click();
    await eventually(async () => assert.equal(await items(page).count(), 4));
    assert.equal(await unreadItems(page).count(), 0);
  });

  it('a notifications list longer than a page scrolls on', async () => {
    // Twenty more comments from bob, through the API.
    const { accessToken } = await api('POST', '/api/auth/login', null, { login: 'bob', password: 'correct horse battery' });
    bobToken = accessToken;
    for (let i = 1; i <= 20; i++) await api('POST', `/api/posts/${postPath.split('/').pop()}/comments`, accessToken, { text: `Remark number ${i}` });
    const { page } = ada;
    await expectUnread(page, 20);
    await page.reload();
    await page.getByRole('heading', { name: 'Notifications', level: 1 }).waitFor();
    await eventually(async () => assert.ok((await items(page).count()) >= 20));
    await eventually(
      async () => {
        await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
        await page.getByText("That's all of them.").waitFor({ timeout: 500 });
      },
      15_000,
      'the end of the list',
    );
    assert.equal(await items(page).count(), 24, 'more than the first page of 20');
    assert.equal(await unreadItems(page).count(), 20);
    assert.match(await items(page).first().textContent(), /commented on your post.*Remark number \d+/);
    assert.match(await items(page).last().textContent(), /started following you/);
    await page.getByRole('button', { name: 'Mark all read' }).click();
    await expectUnread(page, 0);
  });

  it('after a dropped stream: the count is refetched, retries back off, and what was missed is handed over', async () => {
    const { page, context } = ada;
    // Keep a handle on the app's EventSources so the test can cut one, as a
    // dropped connection would (the browser closes it and fires 'error').
    await context.addInitScript(() => {
      const Native = window.EventSource;
      window.__streams = [];
      window.EventSource = class extends Native {
        constructor(...args) {
          super(...args);
          window.__streams.push(this);
        }
      };
    });
    const connected = page.waitForResponse(isStream);
    await page.goto('/');
    await connected;
    await expectUnread(page, 0);
    const postId = postPath.split('/').pop();
    await api('POST', `/api/posts/${postId}/comments`, bobToken, { text: 'Before the drop' });
    await expectUnread(page, 1);
    await page.locator('.toast').filter({ hasText: 'Bob Babbage commented on your post' }).waitFor();
    await page.evaluate(() => document.querySelectorAll('.toast button').forEach((b) => b.click()));

    // The server cannot be reached for a while.
    const attempts = [];
    await page.route('**/api/notifications/stream', (route) => {
      attempts.push(Date.now());
      return route.abort('connectionrefused');
    });
    await page.evaluate(() => {
      const es = window.__streams.at(-1);
      es.close();
      es.dispatchEvent(new Event('error'));
    });
    await api('POST', `/api/posts/${postId}/comments`, bobToken, { text: 'Said while you were away' });
    // Each retry first asks for the count (which also renews the session).
    await expectUnread(page, 2);
    await eventually(() => assert.ok(attempts.length >= 3, `${attempts.length} attempts`), 15_000, 'three attempts');
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]);
    assert.ok(gaps[1] >= gaps[0] && gaps[1] >= 900, `growing pauses: ${gaps.join(', ')} ms`);
    assert.equal(await page.locator('.toast').count(), 0, 'nothing announced while down');

    // Back again: the missed comment is announced without a reload.
    const reconnected = page.waitForResponse(isStream, { timeout: 20_000 });
    await page.unroute('**/api/notifications/stream');
    assert.equal((await reconnected).status(), 200);
    await page.locator('.toast').filter({ hasText: 'Bob Babbage commented on your post' }).waitFor();
    await expectUnread(page, 2);
    // And it is live again.
    await api('POST', `/api/posts/${postId}/comments`, bobToken, { text: 'And now live' });
    await expectUnread(page, 3);
    await api('PUT', '/api/notifications/read-all', await adaToken());
    await expectUnread(page, 0);
  });

  it('/sw.js is served at the root as JavaScript and revalidated', async () => {
    const r = await fetch(`${server.base}/sw.js`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.equal(r.headers.get('cache-control'), 'no-cache');
    assert.match(await r.text(), /addEventListener\('push'/);
  });

  it('without permission, turning push on explains why it stays off', async (t) => {
    // A context where the permission was never granted: headless Chromium
    // answers the prompt by itself.
    const context = await browser.newContext({ viewport: PHONE, baseURL: server.base });
    const page = await context.newPage();
    await page.goto('/login?next=/settings');
    await page.getByLabel('Username or email').fill('bob');
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Settings' }).waitFor();
    const section = page.getByRole('region', { name: 'Browser notifications' });
    const toggle = section.getByRole('switch', { name: 'Notify me in this browser' });
    await eventually(async () => assert.ok(await toggle.isEnabled()));
    assert.equal(await toggle.isChecked(), false);
    await toggle.click();
    await section
      .getByRole('alert')
      .filter({ hasText: /Notifications are blocked for this site|You did not allow notifications/ })
      .waitFor();
    t.diagnostic(`shown: ${await section.getByRole('alert').textContent()}`);
    await eventually(async () => assert.equal(await toggle.isChecked(), false));
    await context.close();
  });

  // Headless Chromium cannot create a push subscription here: Playwright's
  // browser contexts are off the record, where Chromium refuses push
  // ("Registration failed - permission denied"), and a normal profile waits
  // for Google's push service, which Debian's Chromium has no keys for (and
  // this machine cannot reach). So this checks what the user sees when the
  // browser refuses: the worker is installed, the error is shown by the
  // switch, it stays off, and nothing is sent to the server.
  it('with permission, the switch installs the service worker; a refused subscription is explained', async (t) => {
    const { page } = ada;
    const sent = [];
    const track = (r) => {
      if (r.url().includes('/api/push/subscriptions')) sent.push(`${r.method()} ${r.url()}`);
    };
    page.on('request', track);
    await page.goto('/settings');
    const section = page.getByRole('region', { name: 'Browser notifications' });
    const toggle = section.getByRole('switch', { name: 'Notify me in this browser' });
    await eventually(async () => assert.ok(await toggle.isEnabled()));
    assert.equal(await toggle.isChecked(), false);
    await section.getByText('Off.', { exact: true }).waitFor();
    assert.equal(await page.evaluate(() => Notification.permission), 'granted');

    await toggle.click();
    // The service worker is registered at the root scope and running.
    await eventually(async () => {
      const sw = await page.evaluate(async () => {
        const reg = await navigator.serviceWorker.getRegistration('/');
        return reg ? { scope: reg.scope, script: reg.active?.scriptURL ?? null } : null;
      });
      assert.deepEqual(sw, { scope: `${server.base}/`, script: `${server.base}/sw.js` });
    }, 15_000, 'the service worker');

    const alert = section.getByRole('alert');
    await alert.waitFor({ timeout: 30_000 });
    const message = (await alert.textContent()) ?? '';
    t.diagnostic(`shown: ${message}`);
    assert.match(message, /^This browser could not subscribe to push messages: Registration failed - permission denied/);
    await eventually(async () => assert.equal(await toggle.isChecked(), false));
    await section.getByText('Off.', { exact: true }).waitFor();
    assert.ok(await toggle.isEnabled(), 'she can try again');
    assert.deepEqual(sent, [], 'no subscription was sent to the server');
    page.off('request', track);
    await section.scrollIntoViewIfNeeded();
    await shots(page, 'settings-push');
  });

  it('the service worker shows a pushed notification that leads to the post', async () => {
    const { page, context } = ada;
    const cdp = await context.newCDPSession(page);
    const registrations = [];
    cdp.on('ServiceWorker.workerRegistrationUpdated', (ev) => registrations.push(...ev.registrations));
    await cdp.send('ServiceWorker.enable');
    const reg = await eventually(() => {
      const r = registrations.find((x) => x.scopeURL === `${server.base}/` && !x.isDeleted);
      assert.ok(r, 'registration reported');
      return r;
    });
    const postId = postPath.split('/').pop();
    await cdp.send('ServiceWorker.deliverPushMessage', {
      origin: server.base,
      registrationId: reg.registrationId,
      data: JSON.stringify({ title: 'Starling', body: 'Bob Babbage loved your post', tag: 'notification-1', notificationId: '1', type: 'love', postId }),
    });
    const shown = await eventually(async () => {
      const list = await page.evaluate(async () => {
        const r = await navigator.serviceWorker.getRegistration('/');
        return (await r.getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag, url: n.data?.url }));
      });
      assert.equal(list.length, 1);
      return list[0];
    }, 10_000, 'the notification shown');
    assert.deepEqual(shown, { title: 'Starling', body: 'Bob Babbage loved your post', tag: 'notification-1', url: postPath });
    await cdp.detach();
  });

  it('logging out closes the stream and hides the bell', async () => {
    const { page } = ada;
    await page.goto('/');
    await bell(page).waitFor();
    const ended = page.waitForEvent('requestfailed', { predicate: isStream }).catch(() => null);
    const finished = page.waitForEvent('requestfinished', { predicate: isStream }).catch(() => null);
    await page.getByRole('link', { name: 'Log out' }).click();
    await page.getByRole('heading', { name: 'You are logged out' }).waitFor();
    assert.equal(await bell(page).count(), 0);
    const closed = await Promise.race([ended, finished, new Promise((r) => setTimeout(() => r(null), 5_000))]);
    assert.ok(closed, 'the stream request ended');
    // And it is not reopened.
    let reopened = false;
    page.on('request', (r) => {
      if (isStream(r)) reopened = true;
    });
    await page.waitForTimeout(2_500);
    assert.equal(reopened, false);
  });

  it('raised no script errors', () => {
    assert.deepEqual([...ada.errors, ...bob.errors].map(String), []);
  });
});
