// Safety and the account lifecycle in the browser (issue 14): reporting a
// post and a moderator removing it, blocking someone from their profile,
// changing the password and signing out another session, and the moderation
// area staying out of a plain user's way. The moderator is made with the
// binary's own CLI before the server starts.
//
//   node --test e2e/safety.test.mjs     (after `cargo build`; STARLING_BIN overrides the binary)

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  DESKTOP,
  PASSWORD,
  PHONE,
  apiClient,
  dismissToasts,
  eventually,
  launchBrowser,
  navLink,
  openPerson,
  register,
  shots,
  skipWithoutChromium,
  startServer,
  starlingCli,
  text,
} from './support.mjs';

const MOD_PASSWORD = 'moderate with care';

/** Logs in through the form and waits for the home page. */
async function logIn(page, login, password = PASSWORD) {
  await page.goto('/login');
  await page.getByLabel('Username or email').fill(login);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Home', exact: true }).waitFor();
}

/**
 * The token of the newest mailed link to `page` (`verify-email` or
 * `reset-password`): without SMTP the server writes mails as .eml files into
 * its data dir's `mail/` (a quoted-printable body is decoded first).
 */
function mailedToken(dataDir, page) {
  const dir = join(dataDir, 'mail');
  if (!existsSync(dir)) throw new Error('no mail yet');
  const files = readdirSync(dir).filter((f) => f.endsWith('.eml')).sort().reverse();
  const bodies = [];
  for (const f of files) {
    let body = readFileSync(join(dir, f), 'latin1');
    if (/^Content-Transfer-Encoding:\s*quoted-printable/im.test(body)) {
      body = body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
    }
    const m = body.match(new RegExp(`${page}\\?token=([A-Za-z0-9_.~%-]+)`));
    if (m) return decodeURIComponent(m[1]);
    bodies.push(body);
  }
  throw new Error(`no mail with a ${page} link among ${files.length}:\n${bodies.join('\n---\n')}`);
}

/** A session for API calls behind the browser's back. */
async function apiLogin(api, login, password = PASSWORD) {
  const s = await api('POST', '/api/auth/login', null, { login, password });
  return s.accessToken;
}

/** Opens the more menu `name` and picks `item`, by keyboard as a screen-reader user would. */
async function pickFromMenu(page, scope, name, item) {
  const button = scope.getByRole('button', { name });
  await button.focus();
  await page.keyboard.press('Enter');
  const menu = page.getByRole('menu', { name });
  await menu.waitFor();
  // Focus is on the first item; move to the wanted one with the arrow keys.
  const items = await menu.getByRole('menuitem').allTextContents();
  const at = items.findIndex((t) => t.trim() === item || t.trim().startsWith(item));
  assert.ok(at >= 0, `menu has ${item}: ${items.join(' | ')}`);
  for (let i = 0; i < at; i++) await page.keyboard.press('ArrowDown');
  assert.equal((await page.evaluate(() => document.activeElement?.textContent ?? '')).trim().startsWith(item), true);
  await page.keyboard.press('Enter');
}

describe('safety and the account lifecycle in the browser', { skip: skipWithoutChromium }, () => {
  let server;
  let browser;
  let api;
  const people = [];
  let pwDir;

  before(async () => {
    pwDir = mkdtempSync(join(tmpdir(), 'starling-e2e-pw-'));
    const pwFile = join(pwDir, 'password');
    writeFileSync(pwFile, `${MOD_PASSWORD}\n`);
    const account = (username, email, role) =>
      ['admin', 'create-user', '--username', username, '--email', email, '--role', role, '--password-file', pwFile];
    server = await startServer({}, {
      // An admin first (as on a new server), then the moderator.
      setup: async (dataDir) => {
        await starlingCli([...account('root', 'root@x.io', 'admin'), '--data-dir', dataDir], { cwd: dataDir });
        await starlingCli([...account('mod', 'm@x.io', 'moderator'), '--data-dir', dataDir], { cwd: dataDir });
      },
    });
    api = apiClient(server.base);
    browser = await launchBrowser();
  });

  after(async () => {
    for (const p of people) {
      assert.deepEqual(p.errors.map(String), [], 'no script errors on the page');
    }
    await browser?.close();
    await server?.stop();
    if (pwDir) rmSync(pwDir, { recursive: true, force: true });
  });

  async function person(viewport = DESKTOP) {
    const p = await openPerson(browser, server.base, viewport);
    people.push(p);
    return p;
  }

  it('a report on a post reaches a moderator, who removes the post for everyone', async () => {
    const author = await person(DESKTOP);
    const reporter = await person(PHONE);
    await register(author.page, 'spammer', 'Sam Spam');
    await register(reporter.page, 'rita', 'Rita Reporter');

    const token = await apiLogin(api, 'spammer');
    const post = await api('POST', '/api/posts', token, { text: 'Cheap watches at cheap-watches.example!!!', mediaIds: [] });

    // Rita opens the post and reports it from its more menu, with the keyboard.
    const { page } = reporter;
    await page.goto(`/p/${post.id}`);
    const card = page.locator(`article[data-post-id="${post.id}"]`);
    await card.getByText('Cheap watches').waitFor();
    await pickFromMenu(page, card, 'More actions for the post by Sam Spam', 'Report this post');
    const dialog = page.getByRole('dialog', { name: 'Report this post' });
    await dialog.waitFor();
    // Sending without a reason says what is missing.
    await dialog.getByRole('button', { name: 'Send report' }).click();
    await dialog.getByRole('alert').filter({ hasText: 'Choose a reason' }).waitFor();
    await dialog.getByRole('radio', { name: /Spam/ }).check();
    await dialog.getByLabel('Anything the moderators should know (optional)').fill('Posted the same ad ten times');
    await shots(page, 'safety-report-dialog');
    await dialog.getByRole('button', { name: 'Send report' }).click();
    await page.getByRole('status').filter({ hasText: 'Your report was sent to the moderators' }).waitFor();
    await dialog.waitFor({ state: 'detached' });
    // Focus went back to the menu button.
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'More actions for the post by Sam Spam');

    // The moderator signs in: the moderation area is in the navigation.
    const mod = await person(DESKTOP);
    await logIn(mod.page, 'mod', MOD_PASSWORD);
    await navLink(mod.page, 'Moderation').click();
    await mod.page.getByRole('heading', { name: 'Moderation', exact: true }).waitFor();
    const report = mod.page.locator('article.report').filter({ hasText: 'Cheap watches' });
    await report.getByRole('heading', { name: 'Spam: a post' }).waitFor();
    await report.getByText('Posted the same ad ten times').waitFor();
    await report.getByText('Rita Reporter').waitFor();
    await report.getByLabel('Note for the audit log (optional)').fill('Advertising');
    await shots(mod.page, 'safety-report-queue');
    await report.getByRole('button', { name: 'Remove content' }).click();
    await mod.page.getByRole('status').filter({ hasText: 'Report resolved' }).waitFor();
    await report.waitFor({ state: 'detached' });
    await mod.page.getByText('No open reports').waitFor();
    // It is in the resolved tab and the audit log.
    await mod.page.getByRole('link', { name: 'Resolved' }).click();
    await mod.page.locator('article.report').filter({ hasText: 'Removed the content' }).waitFor();
    await mod.page.getByRole('navigation', { name: 'Moderation' }).getByRole('link', { name: 'Audit log' }).click();
    await mod.page.getByRole('list', { name: 'Audit log' }).getByText('Advertising').waitFor();

    // The post is gone for Rita.
    await page.goto(`/p/${post.id}`);
    await page.getByRole('heading', { name: 'Post not found' }).waitFor();
    await page.goto('/community');
    await page.getByRole('heading', { name: 'Community' }).waitFor();
    await page.waitForTimeout(500);
    assert.equal(await page.getByText('Cheap watches').count(), 0);
  });

  it('blocking someone from their profile takes their posts out of the feed and stops their comments', async () => {
    const carol = await person(DESKTOP);
    const dave = await person(PHONE);
    await register(carol.page, 'carol', 'Carol Blocker');
    await register(dave.page, 'dave', 'Dave Pest');
    const daveToken = await apiLogin(api, 'dave');
    const carolToken = await apiLogin(api, 'carol');
    const daveUser = await api('GET', '/api/users/by-username/dave', carolToken);
    await api('PUT', `/api/users/${daveUser.id}/follow`, carolToken);
    await api('POST', '/api/posts', daveToken, { text: 'Dave was here', mediaIds: [] });
    const carolPost = await api('POST', '/api/posts', carolToken, { text: 'Carol thinks aloud', mediaIds: [] });

    const { page } = carol;
    await page.goto('/');
    await page.getByText('Dave was here').waitFor();

    await page.goto('/u/dave');
    await page.getByRole('heading', { name: 'Dave Pest' }).waitFor();
    await pickFromMenu(page, page.locator('.profile'), 'More actions for @dave', 'Block @dave');
    const dialog = page.getByRole('dialog', { name: 'Block @dave?' });
    await dialog.waitFor();
    await shots(page, 'safety-block-dialog');
    await dialog.getByRole('button', { name: 'Block', exact: true }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.locator('.profile').getByText('Blocked', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Unblock Dave Pest' }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Follow Dave Pest' }).count(), 0);

    // Dave's post left Carol's home feed.
    await page.goto('/');
    await page.getByText('Carol thinks aloud').waitFor();
    assert.equal(await page.getByText('Dave was here').count(), 0);

    // The blocked list in settings has him, with undo.
    await page.goto('/settings/blocks');
    const blocked = page.getByRole('list', { name: 'Blocked accounts' });
    await blocked.getByText('Dave Pest').waitFor();
    await blocked.getByRole('button', { name: 'Unblock @dave' }).waitFor();

    // Dave cannot open Carol's post by its link (hidden across a block, as
    // Mastodon does), nor follow her, and is told so in words.
    const d = dave.page;
    await d.goto(`/p/${carolPost.id}`);
    await d.getByRole('heading', { name: 'Post not found' }).waitFor();
    assert.equal(await d.getByText('Carol thinks aloud').count(), 0);
    await d.goto('/u/carol');
    await d.getByRole('heading', { name: 'Carol Blocker' }).waitFor();
    await d.getByRole('button', { name: 'Follow Carol Blocker' }).click();
    await d.getByRole('alert').filter({ hasText: "You can't interact with this account." }).waitFor();
    await shots(d, 'safety-blocked-follow');
  });

  it('settings: changing the password, and signing out another session', async () => {
    const here = await person(DESKTOP);
    const there = await person(PHONE);
    await register(here.page, 'erin', 'Erin Careful');
    const { page } = here;

    await page.goto('/settings');
    await page.getByRole('navigation', { name: 'Settings' }).getByRole('link', { name: 'Password' }).click();
    await page.getByRole('heading', { name: 'Change your password' }).waitFor();
    // A wrong current password is reported on its field.
    await page.getByLabel('Current password').fill('not my password');
    await page.getByLabel('New password', { exact: true }).fill('a much better secret');
    await page.getByLabel('New password again').fill('a much better secret');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.locator('.field-error').filter({ hasText: 'That password is not right.' }).waitFor();
    await page.getByLabel('Current password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByRole('status').filter({ hasText: 'Your password is changed' }).waitFor();
    // Still signed in here; the old password no longer works, the new one does.
    await page.goto('/settings/sessions');
    await page.getByRole('heading', { name: 'Where you are signed in' }).waitFor();
    await assert.rejects(apiLogin(api, 'erin'), /403|401|400/);

    await logIn(there.page, 'erin', 'a much better secret');
    await page.reload();
    const list = page.getByRole('list', { name: 'Sessions' });
    await eventually(async () => assert.equal(await list.locator('li').count(), 2), 10_000, 'two sessions');
    await list.getByText('This device').waitFor();
    await shots(page, 'safety-sessions');
    const other = list.locator('li').filter({ hasNot: page.getByText('This device') });
    await other.getByRole('button', { name: /^Sign out / }).click();
    await eventually(async () => assert.equal(await list.locator('li').count(), 1), 10_000, 'one session left');

    // The other browser is signed out at its next request.
    await there.page.goto('/settings');
    await there.page.getByRole('heading', { name: 'Log in to Starling' }).waitFor();
    // And this one is still in.
    await page.goto('/settings/password');
    await page.getByRole('heading', { name: 'Change your password' }).waitFor();
  });

  it('a plain user has no moderation area', async () => {
    const { page } = await person(DESKTOP);
    await register(page, 'frank', 'Frank Plain');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /^Notifications/ }).waitFor();
    assert.equal(await navLink(page, 'Moderation').count(), 0);
    await page.goto('/moderation');
    await page.getByText('This area is for the moderators of this server.').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Remove content' }).count(), 0);
    // The API refuses too.
    const token = await apiLogin(api, 'frank');
    await assert.rejects(api('GET', '/api/admin/reports?status=open', token), /403/);
    await dismissToasts(page);
    assert.ok((await text(page.locator('h1').first())).length > 0);
  });
});

describe('invites, export and account deletion in the browser', { skip: skipWithoutChromium }, () => {
  let server;
  let browser;
  let pwDir;
  const people = [];

  before(async () => {
    pwDir = mkdtempSync(join(tmpdir(), 'starling-e2e-pw-'));
    const pwFile = join(pwDir, 'password');
    writeFileSync(pwFile, `${MOD_PASSWORD}\n`);
    server = await startServer({ STARLING_REGISTRATION_MODE: 'invite' }, {
      setup: (dataDir) =>
        starlingCli(['admin', 'create-user', '--username', 'root', '--email', 'root@x.io', '--role', 'admin', '--password-file', pwFile, '--data-dir', dataDir], { cwd: dataDir }),
    });
    browser = await launchBrowser();
  });

  after(async () => {
    for (const p of people) assert.deepEqual(p.errors.map(String), [], 'no script errors on the page');
    await browser?.close();
    await server?.stop();
    if (pwDir) rmSync(pwDir, { recursive: true, force: true });
  });

  it('an admin invites someone, who signs up with the link, downloads their data and deletes the account', async () => {
    const root = await openPerson(browser, server.base, DESKTOP);
    const guest = await openPerson(browser, server.base, PHONE);
    people.push(root, guest);

    // Without an invite, sign-up asks for one and refuses a wrong one on its field.
    const g = guest.page;
    await g.goto('/register');
    const code = g.getByLabel('Invite code');
    await code.waitFor();
    await g.getByLabel('Username', { exact: true }).fill('gina');
    await g.getByLabel('Email').fill('gina@example.org');
    await g.getByLabel('Password').fill(PASSWORD);
    await code.fill('not-a-code');
    await g.getByRole('button', { name: 'Sign up' }).click();
    await g.locator('.field-error').first().waitFor();

    // The admin makes an invite for two people.
    const r = root.page;
    await logIn(r, 'root', MOD_PASSWORD);
    await r.goto('/moderation/invites');
    await r.getByLabel('Uses').fill('2');
    await r.getByRole('button', { name: 'Create invite' }).click();
    const invites = r.getByRole('list', { name: 'Invites' });
    await invites.getByText('used 0 of 2').waitFor();
    const invite = (await text(invites.locator('.code').first())).trim();
    assert.ok(invite.length > 0);
    await shots(r, 'safety-invites');

    // The link fills the code in.
    await g.goto(`/register?invite=${encodeURIComponent(invite)}`);
    assert.equal(await g.getByLabel('Invite code').inputValue(), invite);
    await g.getByLabel('Username', { exact: true }).fill('gina');
    await g.getByLabel('Display name (optional)').fill('Gina Guest');
    await g.getByLabel('Email').fill('gina@example.org');
    await g.getByLabel('Password').fill(PASSWORD);
    await g.getByRole('button', { name: 'Sign up' }).click();
    await g.getByRole('heading', { name: 'Home', exact: true }).waitFor();
    await r.reload();
    await r.getByRole('list', { name: 'Invites' }).getByText('used 1 of 2').waitFor();

    // Gina downloads her data.
    await g.goto('/settings/data');
    const [download] = await Promise.all([g.waitForEvent('download'), g.getByRole('button', { name: 'Download your data' }).click()]);
    assert.equal(download.suggestedFilename(), 'starling-export-gina.zip');
    const zip = await download.createReadStream();
    const chunks = [];
    for await (const c of zip) chunks.push(c);
    assert.equal(Buffer.concat(chunks).subarray(0, 2).toString('latin1'), 'PK', 'a zip file');

    // And deletes her account: a wrong password is refused, the right one signs her out.
    await g.getByRole('button', { name: 'Delete your account…' }).click();
    const pw = g.getByLabel('Your password, to confirm');
    await pw.fill('wrong password');
    await g.getByRole('button', { name: 'Delete my account for good' }).click();
    await g.locator('.field-error').filter({ hasText: 'That password is not right.' }).waitFor();
    await pw.fill(PASSWORD);
    await g.getByRole('button', { name: 'Delete my account for good' }).click();
    await g.getByRole('heading', { name: 'Community' }).waitFor();
    await g.getByRole('link', { name: 'Log in' }).first().waitFor();
    await g.goto('/login');
    await g.getByLabel('Username or email').fill('gina');
    await g.getByLabel('Password').fill(PASSWORD);
    await g.getByRole('button', { name: 'Log in' }).click();
    await g.getByRole('alert').waitFor();
    await r.goto('/u/gina');
    await r.getByRole('heading', { name: 'No such user' }).waitFor();
  });
});

describe('sign-up waiting for approval, and the pages mail links lead to', { skip: skipWithoutChromium }, () => {
  let server;
  let browser;
  let person;

  before(async () => {
    server = await startServer({ STARLING_REGISTRATION_MODE: 'approval' });
    browser = await launchBrowser();
    person = await openPerson(browser, server.base, PHONE);
  });

  after(async () => {
    assert.deepEqual(person?.errors.map(String) ?? [], [], 'no script errors on the page');
    await browser?.close();
    await server?.stop();
  });

  it('says the account waits for a moderator, and why logging in fails meanwhile', async () => {
    const { page } = person;
    await page.goto('/register');
    await page.getByText('A moderator looks at new accounts before they can be used.').waitFor();
    await page.getByLabel('Username', { exact: true }).fill('hana');
    await page.getByLabel('Email').fill('hana@example.org');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign up' }).click();
    await page.getByRole('heading', { name: 'Thanks for signing up' }).waitFor();
    await page.getByText('waiting for approval by a moderator').waitFor();
    await page.goto('/login');
    await page.getByLabel('Username or email').fill('hana');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').filter({ hasText: 'Your account is waiting for approval by a moderator.' }).waitFor();
  });

  it('asks for a reset link, and tells an old link apart', async () => {
    const { page } = person;
    await page.goto('/login');
    await page.getByRole('link', { name: 'Forgot password?' }).click();
    await page.getByRole('heading', { name: 'Forgot your password?' }).waitFor();
    await page.getByLabel('Email').fill('nobody@example.org');
    await page.getByRole('button', { name: 'Send the link' }).click();
    await page.getByRole('heading', { name: 'Check your email' }).waitFor();

    await page.goto('/reset-password?token=not-a-real-token');
    await page.getByLabel('New password', { exact: true }).fill('a fresh start again');
    await page.getByLabel('New password again').fill('a fresh start again');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByRole('alert').filter({ hasText: 'This link is not valid any more' }).waitFor();
    await page.getByRole('link', { name: 'Ask for a new link' }).waitFor();

    await page.goto('/verify-email?token=not-a-real-token');
    await page.getByRole('alert').filter({ hasText: 'This link is not valid any more' }).waitFor();
    await page.getByRole('link', { name: 'Send a new link' }).click();
    await page.getByRole('heading', { name: 'Confirm your email address' }).waitFor();
  });
});

describe('confirming the email address and resetting the password by mail', { skip: skipWithoutChromium }, () => {
  let server;
  let browser;
  let person;

  before(async () => {
    server = await startServer({ STARLING_REQUIRE_EMAIL_VERIFICATION: 'true' });
    browser = await launchBrowser();
    person = await openPerson(browser, server.base, DESKTOP);
  });

  after(async () => {
    assert.deepEqual(person?.errors.map(String) ?? [], [], 'no script errors on the page');
    await browser?.close();
    await server?.stop();
  });

  it('signs up, is asked to confirm, confirms by the mailed link and is signed in', async () => {
    const { page } = person;
    await page.goto('/register');
    await page.getByLabel('Username', { exact: true }).fill('ivy');
    await page.getByLabel('Email').fill('ivy@example.org');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign up' }).click();
    await page.getByRole('heading', { name: 'Check your email' }).waitFor();
    await page.getByText('ivy@example.org').waitFor();

    // Logging in first is refused in words, with the way to a new link.
    await page.goto('/login');
    await page.getByLabel('Username or email').fill('ivy');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').filter({ hasText: 'Please confirm your email address first' }).waitFor();
    await page.getByRole('link', { name: 'Send the confirmation link again' }).waitFor();

    const token = await eventually(() => mailedToken(server.dataDir, 'verify-email'), 10_000, 'the confirmation mail');
    await page.goto(`/verify-email?token=${encodeURIComponent(token)}`);
    await page.getByRole('heading', { name: 'Home', exact: true }).waitFor();
    await page.getByRole('link', { name: /ivy, your profile/ }).waitFor();
  });

  it('resets a forgotten password with the mailed link', async () => {
    const { page } = person;
    await page.goto('/logout');
    await page.getByRole('heading', { name: 'You are logged out' }).waitFor();
    await page.goto('/reset-password');
    await page.getByLabel('Email').fill('ivy@example.org');
    await page.getByRole('button', { name: 'Send the link' }).click();
    await page.getByRole('heading', { name: 'Check your email' }).waitFor();

    const token = await eventually(() => mailedToken(server.dataDir, 'reset-password'), 10_000, 'the reset mail');
    await page.goto(`/reset-password?token=${encodeURIComponent(token)}`);
    await page.getByLabel('New password', { exact: true }).fill('ivy grows back');
    await page.getByLabel('New password again').fill('ivy grows back');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByRole('heading', { name: 'Your password is changed' }).waitFor();
    await logIn(page, 'ivy', 'ivy grows back');
  });
});
