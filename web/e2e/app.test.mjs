// End to end in a real browser: two people, each in their own browser
// context, use the app served by the real starling binary. Every step checks
// what is on the screen. Screenshots go to web/e2e-output/.
//
//   npm run test:browser            (after `cargo build`; STARLING_BIN overrides the binary)

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  DESKTOP,
  PHONE,
  apiClient,
  eventually,
  launchBrowser,
  openPerson,
  portrait,
  register,
  shots,
  skipWithoutChromium,
  startServer,
  sunset,
  text,
} from './support.mjs';

// A short access-token lifetime, so the silent refresh happens during the run.
const ACCESS_TTL_SECS = 20;

describe('two people use Starling in the browser', { skip: skipWithoutChromium }, () => {
  let server;
  let browser;
  let ada; // desktop
  let bob; // phone
  let postUrl;

  before(async () => {
    server = await startServer({ STARLING_ACCESS_TOKEN_TTL_SECS: String(ACCESS_TTL_SECS) });
    browser = await launchBrowser();
    ada = await openPerson(browser, server.base, DESKTOP);
    bob = await openPerson(browser, server.base, PHONE);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('shows the API error where the user acted', async () => {
    const { page } = ada;
    await page.goto('/login');
    await page.getByLabel('Username or email').fill('nobody_here');
    await page.getByLabel('Password').fill('wrong password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').filter({ hasText: 'wrong username, email or password' }).waitFor();
  });

  it('registers two people', async () => {
    for (const [who, username, name] of [
      [ada, 'ada', 'Ada Lovelace'],
      [bob, 'bob', 'Bob Babbage'],
    ]) {
      const { page } = who;
      await register(page, username, name);
      await page.getByRole('link', { name: name }).first().waitFor();
      await page.getByText('Your home feed is empty').waitFor();
    }
    // A taken username is reported on its field.
    const { page } = bob;
    const other = await bob.context.browser().newContext({ viewport: PHONE, baseURL: server.base });
    const p = await other.newPage();
    await p.goto('/register');
    await p.getByLabel('Username', { exact: true }).fill('ada');
    await p.getByLabel('Email').fill('ada2@example.org');
    await p.getByLabel('Password').fill('correct horse battery');
    await p.getByRole('button', { name: 'Sign up' }).click();
    await p.locator('.field-error').filter({ hasText: /taken/i }).waitFor();
    await other.close();
    assert.ok(page);
  });

  it('bob follows ada', async () => {
    const { page } = bob;
    await page.goto('/u/ada');
    await page.getByRole('heading', { name: 'Ada Lovelace' }).waitFor();
    await page.getByText('0 followers').waitFor();
    await page.getByRole('button', { name: 'Follow Ada Lovelace' }).click();
    await page.getByRole('button', { name: 'Unfollow Ada Lovelace' }).waitFor();
    await page.getByText('1 follower', { exact: true }).waitFor();
    await page.getByRole('link', { name: '1 follower', exact: true }).click();
    await page.getByRole('heading', { name: 'People following Ada Lovelace' }).waitFor();
    await page.locator('.user-row').filter({ hasText: 'Bob Babbage' }).waitFor();
    // Bob's home feed is still empty, and waits for news.
    await page.goto('/');
    await page.getByText('Your home feed is empty').waitFor();
  });

  it('ada posts with an image, a mention and a tag', async () => {
    const { page } = ada;
    await page.goto('/');
    const box = page.getByRole('textbox', { name: "What's happening?" });
    await box.click();
    await box.pressSequentially('Hello @bo');
    await page.getByRole('option', { name: /@bob/ }).waitFor();
    await page.keyboard.press('Enter');
    await box.pressSequentially('from the engine room #stea');
    await page.getByRole('option', { name: '#stea' }).waitFor();
    await box.pressSequentially('m ');
    assert.equal(await box.inputValue(), 'Hello @bob from the engine room #steam ');

    await page.locator('input[type=file]').first().setInputFiles({
      name: 'sunset.png',
      mimeType: 'image/png',
      buffer: sunset(480, 300),
    });
    await page.getByRole('img', { name: 'Preview of image 1: sunset.png' }).waitFor();
    // A second image, removed again before posting.
    await page.locator('input[type=file]').first().setInputFiles({
      name: 'extra.png',
      mimeType: 'image/png',
      buffer: sunset(200, 120),
    });
    await page.getByRole('img', { name: 'Preview of image 2: extra.png' }).waitFor();
    await page.getByRole('button', { name: 'Remove image 2: extra.png' }).click();
    await page.getByRole('img', { name: 'Preview of image 2: extra.png' }).waitFor({ state: 'detached' });
    await page.getByRole('button', { name: 'Remove image 1: sunset.png' }).waitFor();
    const postButton = page.getByRole('button', { name: 'Post', exact: true });
    await eventually(async () => assert.ok(await postButton.isEnabled()), 15_000, 'upload finished');
    await postButton.click();

    const card = page.locator('article.post').filter({ hasText: 'from the engine room' });
    await card.waitFor();
    await card.getByRole('link', { name: '@bob' }).waitFor();
    await card.getByRole('link', { name: '#steam' }).waitFor();
    await card.getByRole('img', { name: /Image 1 of 1 in the post by Ada Lovelace/ }).waitFor();
    await page.getByText('Your post is live').waitFor();
    assert.equal(await box.inputValue(), '', 'the composer is cleared');
    postUrl = await card.getByRole('link', { name: /Open post/ }).getAttribute('href');
    assert.match(postUrl, /^\/p\/\d+$/);
  });

  it('bob sees "1 new post", loves it and comments', async () => {
    const { page } = bob;
    // The feed polls for new posts, and at once when the tab becomes visible again.
    await eventually(
      async () => {
        await page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
        await page.getByRole('button', { name: /1 new post/ }).waitFor({ timeout: 1_000 });
      },
      15_000,
      'the new-posts banner',
    );
    await page.getByRole('button', { name: /1 new post/ }).click();
    const card = page.locator('article.post').filter({ hasText: 'from the engine room' });
    await card.waitFor();

    const love = card.getByRole('button', { name: /Love this post/ });
    assert.equal(await love.getAttribute('aria-pressed'), 'false');
    await love.click();
    await eventually(async () => {
      assert.equal(await love.getAttribute('aria-pressed'), 'true');
      assert.equal(await text(love.locator('.count')), '1');
    });

    // Bob posts too; his post goes to the top of his feed at once.
    const box = page.getByRole('textbox', { name: "What's happening?" });
    await box.fill('Morning, all. Reading about the #steam engine with coffee.');
    await page.getByRole('button', { name: 'Post', exact: true }).click();
    await page.locator('article.post').first().filter({ hasText: 'Reading about the' }).waitFor();
    await page.evaluate(() => window.scrollTo(0, 0));
    await shots(page, 'feed');

    await card.getByRole('link', { name: /comments; open the post/ }).click();
    await page.getByRole('heading', { name: /Comments/ }).waitFor();
    await page.getByRole('textbox', { name: 'Write a comment' }).fill('What a sunset!');
    await page.getByRole('button', { name: 'Comment', exact: true }).click();
    await page.locator('li.comment').filter({ hasText: 'What a sunset!' }).waitFor();
    const mine = page.locator('li.comment').filter({ hasText: 'Bob Babbage' }).first();
    await page.getByRole('heading', { name: 'Comments (1)' }).waitFor();
    await mine.getByRole('button', { name: 'Edit' }).click();
    await page.getByRole('textbox', { name: 'Edit comment' }).fill('What a sunset! The colours!');
    await mine.getByRole('button', { name: 'Save' }).click();
    await mine.getByText('The colours!').waitFor();
    await mine.getByText('edited').waitFor();
    const post = page.locator('article.post');
    await eventually(async () => assert.equal(await text(post.getByRole('link', { name: /comments; open the post/ }).locator('.count')), '1'));
  });

  it("ada's open feed picks up the love and the comment, and she replies", async () => {
    const { page } = ada;
    const card = page.locator('article.post').filter({ hasText: 'from the engine room' });
    // Shown posts are re-read periodically (and on returning to the tab).
    await eventually(
      async () => {
        await page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
        await page.waitForTimeout(300);
        assert.equal(await text(card.getByRole('button', { name: /Love this post/ }).locator('.count')), '1');
        assert.equal(await text(card.getByRole('link', { name: /comments; open the post/ }).locator('.count')), '1');
      },
      15_000,
      'counts refreshed',
    );
    await page.goto(postUrl);
    const comment = page.locator('li.comment').filter({ hasText: 'The colours!' });
    await comment.getByRole('button', { name: 'Reply' }).click();
    await page.getByRole('textbox', { name: 'Reply to Bob Babbage' }).fill('Thank you, @bob');
    await page.getByRole('button', { name: 'Reply', exact: true }).last().click();
    const reply = comment.locator('.replies li.comment').filter({ hasText: 'Thank you, @bob' });
    await reply.waitFor();
    await page.getByRole('heading', { name: 'Comments (2)' }).waitFor();
  });

  it('ada edits her post and sees its history', async () => {
    const { page } = ada;
    const post = page.locator('article.post');
    await post.getByRole('button', { name: 'Edit' }).click();
    const box = page.getByRole('textbox', { name: 'Edit post' });
    await box.fill('Hello @bob from the engine room #steam (edited: the sunset was orange)');
    await post.getByRole('button', { name: 'Save' }).click();
    await post.getByText('the sunset was orange').waitFor();
    await post.getByRole('button', { name: /edited/ }).click();
    const history = page.getByRole('region', { name: 'Edit history' });
    await history.getByText('Current').waitFor();
    await history.getByText('Version 1').waitFor();
    await post.getByRole('button', { name: /edited/ }).click();
    await shots(page, 'post', { fullPage: true });
  });

  it('ada deletes a post', async () => {
    const { page } = ada;
    await page.goto('/');
    await page.getByRole('textbox', { name: "What's happening?" }).fill('A post about nothing, soon gone');
    await page.getByRole('button', { name: 'Post', exact: true }).click();
    const card = page.locator('article.post').filter({ hasText: 'soon gone' });
    await card.getByRole('button', { name: 'Delete' }).click();
    await card.getByRole('group', { name: 'Confirm deletion' }).getByRole('button', { name: 'Delete post' }).click();
    await page.getByText('Post deleted').waitFor();
    await card.waitFor({ state: 'detached' });
    await page.goto(postUrl);
  });

  it('a failed love is rolled back and explained', async () => {
    const { page } = ada;
    await page.route('**/api/posts/*/love', (route) =>
      route.fulfill({
        status: 503,
        contentType: 'application/json',
        body: JSON.stringify({ error: { code: 'unavailable', message: 'the service is temporarily unavailable' } }),
      }),
    );
    const love = page.locator('article.post').getByRole('button', { name: /Love this post/ });
    assert.equal(await text(love.locator('.count')), '1');
    await love.click();
    await page.getByRole('alert').filter({ hasText: 'the service is temporarily unavailable' }).waitFor();
    await eventually(async () => {
      assert.equal(await love.getAttribute('aria-pressed'), 'false');
      assert.equal(await text(love.locator('.count')), '1');
    });
    await page.unroute('**/api/posts/*/love');
  });

  it('ada sets her picture and bio', async () => {
    const { page } = ada;
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('heading', { name: 'Settings' }).waitFor();
    await page.locator('input[type=file]').setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: portrait(200, [79, 70, 229]) });
    await page.getByRole('img', { name: 'Preview of your new picture' }).waitFor();
    await page.getByRole('button', { name: 'Save picture' }).click();
    await page.getByText('Your new picture is saved').waitFor();
    await eventually(async () => assert.match((await page.locator('.account-me img').getAttribute('src')) ?? '', /^\/media\//));
    await page.getByLabel('Bio').fill('Poet of numbers.');
    await page.getByRole('button', { name: 'Save profile' }).click();
    await page.getByText('Profile saved').waitFor();
    // A bio over the limit is refused by the server, on its field.
    await page.getByLabel('Bio').evaluate((el) => el.removeAttribute('maxlength'));
    await page.getByLabel('Bio').fill('x'.repeat(501));
    await page.getByRole('button', { name: 'Save profile' }).click();
    await page.locator('.field-error').filter({ hasText: /Bio must be at most 500 characters/ }).waitFor();

    await page.goto('/u/ada');
    await page.getByText('Poet of numbers.').waitFor();
    await page.getByText('1 follower', { exact: true }).waitFor();
    await page.locator('article.post').filter({ hasText: 'the sunset was orange' }).waitFor();
    await shots(page, 'profile');
  });

  it('the session is renewed silently and survives a reload', async () => {
    const { page } = bob;
    // The access token lives ACCESS_TTL_SECS; the app renews it before then.
    const renewed = page.waitForResponse((r) => r.url().endsWith('/api/auth/refresh') && r.status() === 200, {
      timeout: ACCESS_TTL_SECS * 1000 + 10_000,
    });
    await page.goto('/');
    await renewed;
    await page.reload();
    await page.getByRole('heading', { name: 'Home', exact: true }).waitFor();
    const card = page.locator('article.post').filter({ hasText: 'the sunset was orange' });
    await card.waitFor();
    const love = card.getByRole('button', { name: /Love this post/ });
    assert.equal(await love.getAttribute('aria-pressed'), 'true', 'still signed in as bob');

    // Without the access cookie (expired and dropped), the app renews at start-up.
    await bob.context.clearCookies({ name: 'starling_access' });
    await page.reload();
    await page.getByRole('heading', { name: 'Home', exact: true }).waitFor();
    await page.getByRole('link', { name: /Bob Babbage, your profile/ }).waitFor();
  });

  it('bob logs out and back in', async () => {
    const { page } = bob;
    await page.getByRole('link', { name: 'Log out' }).click();
    await page.getByRole('heading', { name: 'You are logged out' }).waitFor();
    await page.goto('/');
    await page.getByRole('heading', { name: 'Welcome to Starling' }).waitFor();
    await page.goto('/settings');
    await page.getByRole('heading', { name: 'Log in to Starling' }).waitFor();
    await page.getByLabel('Username or email').fill('bob@example.org');
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Settings' }).waitFor();
    await page.getByText('@bob', { exact: true }).waitFor();
  });

  it('search finds people, posts and tags', async () => {
    const { page } = bob;
    await page.goto('/search?q=ada');
    await page.locator('.user-row').filter({ hasText: 'Ada Lovelace' }).waitFor();
    await page.getByRole('link', { name: 'Posts', exact: true }).click();
    await page.getByRole('searchbox').fill('sunset');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.locator('article.post').filter({ hasText: 'the sunset was orange' }).waitFor();
    await page.getByRole('link', { name: 'Tags', exact: true }).click();
    await page.getByRole('searchbox').fill('#steam');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.getByRole('link', { name: '#steam' }).click();
    await page.getByRole('heading', { name: '#steam' }).waitFor();
    await page.locator('article.post').filter({ hasText: 'the sunset was orange' }).waitFor();
  });

  it('the community feed scrolls on and announces new posts', async () => {
    // Cyrus posts 25 times through the API.
    const api = apiClient(server.base);
    const { accessToken } = await api('POST', '/api/auth/register', null, {
      username: 'cyrus',
      email: 'cyrus@example.org',
      password: 'correct horse battery',
    });
    for (let i = 1; i <= 25; i++) await api('POST', '/api/posts', accessToken, { text: `Note number ${i} from cyrus` });

    const { page } = bob;
    await page.goto('/community');
    await page.locator('article.post').filter({ hasText: 'Note number 25 from cyrus' }).waitFor();
    await eventually(async () => {
      await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
      await page.getByText("You're all caught up.").waitFor({ timeout: 500 });
    }, 15_000, 'the end of the feed');
    const shown = await page.locator('article.post').count();
    assert.equal(shown, 27, "25 from cyrus, one each from ada and bob: more than the first page of 20");

    await api('POST', '/api/posts', accessToken, { text: 'One more from cyrus, just now' });
    await eventually(
      async () => {
        await page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
        await page.getByRole('button', { name: /1 new post/ }).waitFor({ timeout: 1_000 });
      },
      15_000,
      'the new-posts banner',
    );
    await page.getByRole('button', { name: /1 new post/ }).click();
    await eventually(async () => assert.match(await text(page.locator('article.post').first()), /One more from cyrus/));
  });

  it('raised no script errors', () => {
    assert.deepEqual([...ada.errors, ...bob.errors].map(String), []);
  });
});
