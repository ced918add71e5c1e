// The messenger end to end: three people in their own browser contexts chat
// through the real starling binary (Socket.IO and /api/chat). Every step
// checks what is on the screen. Screenshots go to web/e2e-output/.
//
//   node --test e2e/chat.test.mjs      (after `cargo build`; STARLING_BIN overrides the binary)

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  DESKTOP,
  PASSWORD,
  PHONE,
  apiClient,
  bubbles,
  dismissToasts,
  ensureOutputDir,
  eventually,
  launchBrowser,
  openPerson,
  register,
  skipWithoutChromium,
  startServer,
  text,
} from './support.mjs';

describe('people chat in the browser', { skip: skipWithoutChromium }, () => {
  let server;
  let browser;
  let alice; // desktop
  let bob; // phone
  let carol; // desktop
  let directUrl; // /messages/<id> of alice and bob
  let groupUrl;
  const out = ensureOutputDir();

  // Sending is rate limited per user: the client waits as told.
  const api = (...args) => apiClient(server.base)(...args);
  const tokenOf = async (username) => (await api('POST', '/api/auth/login', null, { login: username, password: PASSWORD })).accessToken;

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    alice = await openPerson(browser, server.base, DESKTOP);
    bob = await openPerson(browser, server.base, PHONE);
    carol = await openPerson(browser, server.base, DESKTOP);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('registers three people', async () => {
    for (const [who, username, name] of [
      [alice, 'alice', 'Alice Ames'],
      [bob, 'bob', 'Bob Burns'],
      [carol, 'carol', 'Carol Cho'],
    ]) {
      const { page } = who;
      await register(page, username, name);
      // The messenger is in the navigation once signed in, with no badge yet.
      await page.getByRole('link', { name: 'Messages', exact: true }).waitFor();
    }
  });

  it('alice opens bob\'s profile and clicks Message', async () => {
    const { page } = alice;
    await page.goto('/u/bob');
    await page.getByRole('heading', { name: 'Bob Burns' }).waitFor();
    await page.getByRole('button', { name: 'Message Bob Burns' }).click();
    await page.waitForURL(/\/messages\/[^/]+$/);
    directUrl = new URL(page.url()).pathname;
    await page.locator('.conversation').getByRole('heading', { name: 'Bob Burns' }).waitFor();
    await page.getByText('No messages yet. Say hello!').waitFor();
    // Side by side at desktop width: the room list is there too.
    await page.getByRole('list', { name: 'Conversations' }).getByRole('link', { name: /Bob Burns/ }).waitFor();
  });

  it('alice sends; bob\'s badge rises before he opens the messenger, and the list shows it live', async () => {
    await bob.page.goto('/');
    await bob.page.getByRole('heading', { name: 'Home', exact: true }).waitFor();
    const { page } = alice;
    const box = page.getByRole('textbox', { name: 'Message Bob Burns' });
    await box.fill('Hello Bob, are you there?');
    await box.press('Enter');
    const mine = bubbles(page).filter({ hasText: 'Hello Bob, are you there?' });
    await mine.waitFor();
    // Acked: the optimistic "Sending…" copy is replaced by the stored message.
    await eventually(async () => assert.equal(await page.locator('.msg.pending').count(), 0), 10_000, 'message acked');
    assert.equal(await box.inputValue(), '', 'the box is cleared');

    await bob.page.getByRole('link', { name: 'Messages (1 unread)' }).waitFor();
    assert.equal(await text(bob.page.locator('.nav .badge')), '1');
    await bob.page.getByRole('link', { name: 'Messages (1 unread)' }).click();
    const room = bob.page.getByRole('list', { name: 'Conversations' }).getByRole('link', { name: /Alice Ames/ });
    await room.waitFor();
    await room.getByText('Hello Bob, are you there?').waitFor();
    await room.getByLabel('1 unread').waitFor();

    // A second message arrives while bob looks at the list.
    await box.fill('It is about the engine.');
    await box.press('Enter');
    await room.getByText('It is about the engine.').waitFor();
    await room.getByLabel('2 unread').waitFor();
    await bob.page.getByRole('link', { name: 'Messages (2 unread)' }).waitFor();
  });

  it('bob opens the conversation, alice sees "Seen", and bob\'s badge goes', async () => {
    const { page } = bob;
    await page.getByRole('list', { name: 'Conversations' }).getByRole('link', { name: /Alice Ames/ }).click();
    await page.waitForURL((u) => u.pathname === directUrl);
    await bubbles(page).filter({ hasText: 'It is about the engine.' }).waitFor();
    // At phone width, one pane at a time: the list is hidden, a back link shown.
    assert.equal(await page.getByRole('list', { name: 'Conversations' }).isVisible(), false);
    await page.getByRole('link', { name: 'Back to all messages' }).waitFor();
    await page.getByRole('link', { name: 'Messages', exact: true }).waitFor();

    const seen = alice.page.locator('.msg.mine').filter({ hasText: 'It is about the engine.' }).locator('.seen');
    await seen.waitFor();
    assert.equal(await text(seen), 'Seen');
    // Only under the last of her messages.
    assert.equal(await alice.page.locator('.seen').count(), 1);
  });

  it('bob types; alice sees the typing indicator, then his reply', async () => {
    const { page } = bob;
    const box = page.getByRole('textbox', { name: 'Message Alice Ames' });
    await box.pressSequentially('Yes, I am', { delay: 30 });
    const typing = alice.page.locator('.typing');
    await eventually(async () => assert.equal(await text(typing), 'Bob Burns is typing…'), 10_000, 'typing shown');
    // Idle for three seconds: the indicator goes away.
    await eventually(async () => assert.equal(await text(typing), ''), 10_000, 'typing gone when idle');
    await box.pressSequentially(' here.', { delay: 30 });
    await eventually(async () => assert.equal(await text(typing), 'Bob Burns is typing…'), 10_000, 'typing shown again');
    await page.getByRole('button', { name: 'Send' }).click();
    await alice.page.locator('.msg:not(.mine)').filter({ hasText: 'Yes, I am here.' }).waitFor();
    await eventually(async () => assert.equal(await text(typing), ''), 5_000, 'typing gone on send');
  });

  it('alice retracts a message with the keyboard and bob sees the marker', async () => {
    const { page } = alice;
    const msg = bubbles(page).filter({ hasText: 'Hello Bob, are you there?' });
    const menuButton = msg.getByRole('button', { name: /Actions for the message sent .* by you/ });
    await menuButton.focus();
    await page.keyboard.press('Enter');
    const menu = page.getByRole('menu', { name: 'Message actions' });
    await menu.waitFor();
    // The first item has focus; the arrows move and wrap.
    await eventually(async () => assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Retract for everyone'));
    await page.keyboard.press('ArrowDown');
    await eventually(async () => assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Remove for me'));
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    await menu.waitFor({ state: 'detached' });
    await eventually(async () => assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-haspopup')), 'menu'), 5_000, 'focus back on the menu button');

    const marker = bob.page.locator('.msg').filter({ hasText: 'This message was retracted' });
    await marker.waitFor();
    assert.equal(await bubbles(bob.page).filter({ hasText: 'Hello Bob, are you there?' }).count(), 0);
    await bubbles(page).filter({ hasText: 'This message was retracted' }).waitFor();
    // A retracted message offers no second retraction; others' messages never do.
    await bubbles(page).filter({ hasText: 'Yes, I am here.' }).getByRole('button', { name: /Actions for the message/ }).click();
    await page.getByRole('menuitem', { name: 'Remove for me' }).waitFor();
    assert.equal(await page.getByRole('menuitem', { name: 'Retract for everyone' }).count(), 0);
    await page.keyboard.press('Escape');
    await page.getByRole('menu').waitFor({ state: 'detached' });
  });

  it('alice removes bob\'s reply for herself only', async () => {
    const { page } = alice;
    await bubbles(page).filter({ hasText: 'Yes, I am here.' }).getByRole('button', { name: /Actions for the message/ }).click();
    await page.getByRole('menuitem', { name: 'Remove for me' }).click();
    await bubbles(page).filter({ hasText: 'Yes, I am here.' }).waitFor({ state: 'detached' });
    await page.reload();
    await bubbles(page).filter({ hasText: 'It is about the engine.' }).waitFor();
    assert.equal(await bubbles(page).filter({ hasText: 'Yes, I am here.' }).count(), 0, 'still hidden after a reload');
    assert.equal(await bubbles(bob.page).filter({ hasText: 'Yes, I am here.' }).count(), 1, 'bob still has it');
  });

  it('a message that cannot be sent says so and is sent on retry with the same id', async () => {
    const { page, context } = alice;
    await context.setOffline(true);
    const box = page.getByRole('textbox', { name: 'Message Bob Burns' });
    await box.fill('Sent while the line was down');
    await box.press('Enter');
    const pending = page.locator('.msg.pending').filter({ hasText: 'Sent while the line was down' });
    await pending.getByText('Sending…').waitFor();
    await pending.getByRole('alert').waitFor({ timeout: 20_000 });
    await pending.getByText('Not sent').waitFor();
    await context.setOffline(false);
    await eventually(async () => assert.equal(await page.locator('.conn-note').count(), 0), 20_000, 'reconnected');
    await pending.getByRole('button', { name: 'Retry' }).click();
    await eventually(async () => assert.equal(await page.locator('.msg.pending').count(), 0), 10_000, 'sent on retry');
    await bubbles(page).filter({ hasText: 'Sent while the line was down' }).waitFor();
    await bubbles(bob.page).filter({ hasText: 'Sent while the line was down' }).waitFor();
    assert.equal(await bubbles(bob.page).filter({ hasText: 'Sent while the line was down' }).count(), 1, 'delivered once');
  });

  it('a group of three is created, renamed, and a removed member leaves the room', async () => {
    const { page } = alice;
    await page.goto('/messages');
    await page.getByRole('button', { name: 'New group' }).click();
    const form = page.getByRole('form', { name: 'New group' });
    await form.getByRole('button', { name: 'Create group' }).click();
    await form.getByText('Give the group a name.').waitFor();
    await form.getByLabel('Group name').fill('Engine room');
    await form.getByRole('button', { name: 'Create group' }).click();
    await form.getByRole('alert').filter({ hasText: 'Add at least one person' }).waitFor();
    for (const [who, name] of [
      ['bo', 'Bob Burns'],
      ['car', 'Carol Cho'],
    ]) {
      await form.getByLabel('Add people').fill(who);
      await form.getByRole('button', { name: `Add ${name}` }).click();
      await form.getByRole('list', { name: 'Chosen members' }).getByText(name).waitFor();
    }
    await form.getByRole('button', { name: 'Create group' }).click();
    await page.waitForURL(/\/messages\/[^/]+$/);
    groupUrl = new URL(page.url()).pathname;
    assert.notEqual(groupUrl, directUrl);
    await page.locator('.conversation').getByRole('heading', { name: 'Engine room' }).waitFor();
    await page.getByText('3 members').waitFor();
    await page.getByRole('textbox', { name: 'Message Engine room' }).fill('Welcome to the engine room');
    await page.getByRole('button', { name: 'Send' }).click();
    await bubbles(page).filter({ hasText: 'Welcome to the engine room' }).waitFor();

    // Carol finds it in her list and opens it.
    await carol.page.goto('/messages');
    await carol.page.getByRole('list', { name: 'Conversations' }).getByRole('link', { name: /Engine room/ }).click();
    await carol.page.waitForURL((u) => u.pathname === groupUrl);
    await bubbles(carol.page).filter({ hasText: 'Welcome to the engine room' }).waitFor();
    await carol.page.locator('.msg-sender').filter({ hasText: 'Alice Ames' }).waitFor();

    // Bob, on his list, sees the rename live.
    await bob.page.getByRole('link', { name: 'Back to all messages' }).click();
    await bob.page.getByRole('list', { name: 'Conversations' }).getByRole('link', { name: /Engine room/ }).waitFor();

    await page.getByRole('button', { name: 'Group settings' }).click();
    const settings = page.getByRole('region', { name: 'Group settings' });
    await settings.getByLabel('Group name').fill('Difference engine');
    await settings.getByRole('button', { name: 'Rename' }).click();
    await page.locator('.conversation').getByRole('heading', { name: 'Difference engine' }).waitFor();
    await bob.page.getByRole('list', { name: 'Conversations' }).getByRole('link', { name: /Difference engine/ }).waitFor();
    await carol.page.locator('.conversation').getByRole('heading', { name: 'Difference engine' }).waitFor();

    // Carol is removed: her open conversation closes with a message.
    await settings.getByRole('button', { name: 'Remove Carol Cho from the group' }).click();
    await settings.getByText('Members (2)').waitFor();
    await dismissToasts(page);
    await page.screenshot({ path: join(out, 'messenger-group-desktop.png') });
    await carol.page.waitForURL((u) => u.pathname === '/messages');
    await carol.page.getByText('You are no longer a member of this group.').waitFor();
    await eventually(async () => assert.equal(await carol.page.getByRole('link', { name: /Difference engine/ }).count(), 0), 5_000, 'the group left her list');
    await page.getByText('2 members').waitFor();
    // Bob is still there.
    await bob.page.getByRole('list', { name: 'Conversations' }).getByRole('link', { name: /Difference engine/ }).waitFor();
    await page.getByRole('button', { name: 'Close settings' }).click();
  });

  it('the owner adds a member back, a member leaves, and the owner deletes the group', async () => {
    const { page } = alice;
    await page.getByRole('button', { name: 'Group settings' }).click();
    const settings = page.getByRole('region', { name: 'Group settings' });
    await settings.getByLabel('Add a member').fill('carol');
    await settings.getByRole('button', { name: 'Add Carol Cho' }).click();
    await settings.getByText('Members (3)').waitFor();
    // Carol's list gets the group back live.
    const carolsRoom = carol.page.getByRole('list', { name: 'Conversations' }).getByRole('link', { name: /Difference engine/ });
    await carolsRoom.waitFor();

    // Bob leaves (after confirming).
    const b = bob.page;
    await b.getByRole('list', { name: 'Conversations' }).getByRole('link', { name: /Difference engine/ }).click();
    await b.waitForURL((u) => u.pathname === groupUrl);
    await b.getByRole('button', { name: 'Group settings' }).click();
    const bs = b.getByRole('region', { name: 'Group settings' });
    assert.equal(await bs.getByRole('button', { name: /Remove .* from the group/ }).count(), 0, 'only the owner removes members');
    assert.equal(await bs.getByRole('button', { name: 'Delete…' }).count(), 0, 'only the owner deletes');
    await bs.getByRole('button', { name: 'Leave…' }).click();
    await bs.getByRole('group', { name: 'Confirm leaving' }).getByRole('button', { name: 'Leave group' }).click();
    await b.waitForURL((u) => u.pathname === '/messages');
    await b.getByText('You left Difference engine.').waitFor();
    await eventually(async () => assert.equal(await b.getByRole('link', { name: /Difference engine/ }).count(), 0), 5_000, 'the group left his list');
    await settings.getByText('Members (2)').waitFor();

    // Alice deletes it while carol has it open.
    await carolsRoom.click();
    await carol.page.waitForURL((u) => u.pathname === groupUrl);
    await carol.page.locator('.conversation').getByRole('heading', { name: 'Difference engine' }).waitFor();
    await settings.getByRole('button', { name: 'Delete…' }).click();
    await settings.getByRole('group', { name: 'Confirm deletion' }).getByRole('button', { name: 'Delete group' }).click();
    await page.waitForURL((u) => u.pathname === '/messages');
    await page.getByText('The group Difference engine was deleted.').waitFor();
    await carol.page.waitForURL((u) => u.pathname === '/messages');
    await carol.page.getByText('This conversation was deleted.').waitFor();
    await eventually(async () => assert.equal(await carol.page.getByRole('link', { name: /Difference engine/ }).count(), 0), 5_000, 'gone from her list');
    await eventually(async () => assert.equal(await page.getByRole('link', { name: /Difference engine/ }).count(), 0), 5_000, 'gone from alice\'s list');
  });

  it('scroll-back loads older messages and keeps the place', async () => {
    const token = await tokenOf('alice');
    const roomId = directUrl.split('/').pop();
    for (let i = 1; i <= 60; i++) {
      await api('POST', `/api/chat/rooms/${roomId}/messages`, token, { text: `Seed message ${i}`, clientMsgId: `seed-${i}-${roomId}` });
    }
    const { page } = bob;
    await page.goto(directUrl);
    await bubbles(page).filter({ hasText: 'Seed message 60' }).waitFor();
    const list = page.locator('.messages');
    await eventually(async () => {
      const { top, height, client } = await list.evaluate((el) => ({ top: el.scrollTop, height: el.scrollHeight, client: el.clientHeight }));
      assert.ok(height - top - client < 5, 'opens at the newest message');
    });
    const first = bubbles(page).filter({ has: page.locator('.msg-text', { hasText: /^Seed message 1$/ }) });
    assert.equal(await first.count(), 0, 'the oldest are not loaded yet');
    const before = await bubbles(page).count();
    const oldest = await text(bubbles(page).first().locator('.msg-text'));
    // Scroll to the top: older messages load above, and what was on top stays in view.
    // Until they come, scroll up again: a render that lands before the scroll
    // event (a read receipt, the room from the socket) still sees the view at
    // the bottom and puts it back there. Checked and scrolled in one go, so a
    // load that just landed is never scrolled away.
    await eventually(
      async () =>
        assert.ok(
          await list.evaluate((el, n) => {
            if (el.querySelectorAll('.msg').length > n) return true;
            el.scrollTop = 0;
            return false;
          }, before),
        ),
      10_000,
      'older messages loaded',
    );
    const anchor = bubbles(page).filter({ has: page.locator('.msg-text', { hasText: new RegExp(`^${oldest}$`) }) });
    const [a, l] = await Promise.all([anchor.boundingBox(), list.boundingBox()]);
    assert.ok(a && l && a.y >= l.y - 5 && a.y < l.y + l.height, `"${oldest}" is still in view after loading above it`);
    assert.ok((await list.evaluate((el) => el.scrollTop)) > 100, 'the view did not jump to the top');
    await eventually(
      async () => {
        await list.evaluate((el) => {
          el.scrollTop = 0;
        });
        await page.getByText('This is the start of the conversation.').waitFor({ timeout: 500 });
      },
      15_000,
      'the start of the conversation',
    );
    await first.waitFor();
  });

  it('search finds a message and leads to its room', async () => {
    const { page } = carol;
    await page.getByRole('searchbox', { name: 'Search messages' }).fill('engine room');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    // The group is deleted: its messages are gone from search.
    await page.getByText('No messages contain “engine room”.').waitFor();

    const a = alice.page;
    await a.getByRole('searchbox', { name: 'Search messages' }).fill('Seed message 42');
    await a.getByRole('button', { name: 'Search', exact: true }).click();
    const results = a.getByRole('region', { name: 'Messages found' });
    const hit = results.getByRole('link').filter({ hasText: 'Seed message 42' });
    await hit.waitFor();
    assert.match(await text(hit), /Bob Burns/, 'names the room');
    await hit.click();
    await a.waitForURL((u) => u.pathname === directUrl);
    await a.locator('.conversation').getByRole('heading', { name: 'Bob Burns' }).waitFor();
  });

  it('a reload keeps the session and the conversation', async () => {
    const { page } = bob;
    await page.reload();
    await page.locator('.conversation').getByRole('heading', { name: 'Alice Ames' }).waitFor();
    await bubbles(page).filter({ hasText: 'Seed message 60' }).waitFor();
    // Still live after the reload.
    const box = alice.page.getByRole('textbox', { name: 'Message Bob Burns' });
    await box.fill('Still there after the reload?');
    await box.press('Enter');
    await bubbles(page).filter({ hasText: 'Still there after the reload?' }).waitFor();
  });

  it('the socket renews a lost session and reconnects', async () => {
    const { page, context } = bob;
    // After the reload bob's tab holds no token: the socket used the cookie. Drop it
    // (as when it expires) and cut the line: the reconnection is refused until the
    // app renews the session.
    // The notifications stream would renew the session too: keep it out of this.
    await page.route('**/api/notifications**', (route) => route.fulfill({ status: 503, body: '' }));
    await page.waitForTimeout(1_000); // let requests still under way finish
    await context.clearCookies({ name: 'starling_access' });
    const renewed = page.waitForResponse((r) => r.url().endsWith('/api/auth/refresh') && r.status() === 200, { timeout: 30_000 });
    await context.setOffline(true);
    await page.getByText('Reconnecting to the chat…').waitFor();
    await context.setOffline(false);
    await renewed;
    await eventually(async () => assert.equal(await page.getByText('Reconnecting to the chat…').count(), 0), 20_000, 'reconnected');
    const box = alice.page.getByRole('textbox', { name: 'Message Bob Burns' });
    await box.fill('Back after the renewal');
    await box.press('Enter');
    await bubbles(page).filter({ hasText: 'Back after the renewal' }).waitFor();
    await page.unroute('**/api/notifications**');
  });

  it('screenshots at phone and desktop widths', async () => {
    // Alice at desktop width: the list beside the conversation.
    const a = alice.page;
    await a.goto(directUrl);
    await bubbles(a).filter({ hasText: 'Still there after the reload?' }).waitFor();
    await bob.page.getByRole('textbox', { name: 'Message Alice Ames' }).fill('Yes! Sending the drawings now');
    await bob.page.getByRole('button', { name: 'Send' }).click();
    await bubbles(a).filter({ hasText: 'Sending the drawings now' }).waitFor();
    await bob.page.getByRole('textbox', { name: 'Message Alice Ames' }).pressSequentially('And the gears', { delay: 20 });
    await a.getByText('Bob Burns is typing…').waitFor();
    await dismissToasts(a);
    await a.mouse.move(0, 0);
    await a.screenshot({ path: join(out, 'messenger-desktop.png') });
    // Bob at phone width: the conversation, then the list.
    const b = bob.page;
    await dismissToasts(b);
    await b.screenshot({ path: join(out, 'messenger-phone.png') });
    await b.getByRole('link', { name: 'Back to all messages' }).click();
    await b.getByRole('list', { name: 'Conversations' }).waitFor();
    await b.screenshot({ path: join(out, 'messenger-list-phone.png') });
    await b.setViewportSize(DESKTOP);
    await b.screenshot({ path: join(out, 'messenger-list-desktop.png') });
    await b.setViewportSize(PHONE);
  });

  it('logging out closes the connection: alice sees bob go offline', async () => {
    const a = alice.page;
    await a.goto(directUrl);
    const status = a.locator('.conv-head .muted');
    await eventually(async () => assert.equal(await text(status), 'Online'), 10_000, 'bob online');
    await bob.page.getByRole('link', { name: 'Log out' }).click();
    await bob.page.getByRole('heading', { name: 'You are logged out' }).waitFor();
    await eventually(async () => assert.match(await text(status), /^Last seen/), 10_000, 'bob offline');
    assert.equal(await a.locator('.room-list .presence-dot').count(), 0, 'no presence dot in the list');
    // Signed out, the messenger asks to log in.
    await bob.page.goto(directUrl);
    await bob.page.getByRole('heading', { name: 'Log in to Starling' }).waitFor();
  });

  it('raised no script errors', () => {
    assert.deepEqual([...alice.errors, ...bob.errors, ...carol.errors].map(String), []);
  });
});
