import { useMemo } from 'preact/hooks';
import { feeds } from '../api/endpoints';
import { Composer } from '../components/Composer';
import { Feed, type FeedController } from '../components/Feed';
import { useTitle } from '../lib/hooks';
import { asTag } from '../lib/tags';
import { signedIn } from '../session';
import { toast } from '../toasts';
import { RequireAuth } from './Auth';

function Welcome() {
  return (
    <section class="card welcome">
      <h1>Welcome to Starling</h1>
      <p>A small, self-hosted social network. Share posts and pictures, follow people, talk about #anything.</p>
      <p class="row">
        <a class="btn btn-primary" href="/register">
          Create an account
        </a>
        <a class="btn" href="/login">
          Log in
        </a>
        <a class="btn btn-ghost" href="/community">
          Browse the community
        </a>
      </p>
    </section>
  );
}

function HomeFeed() {
  const source = useMemo(() => feeds.home(), []);
  const ctl = useMemo<FeedController>(() => ({}), []);
  return (
    <>
      <h1 class="page-title">Home</h1>
      <Composer
        onPosted={(p) => {
          ctl.prepend?.(p);
          toast('Your post is live');
        }}
      />
      <Feed
        source={source}
        controller={ctl}
        empty={
          <>
            Your home feed is empty. Follow people from the <a href="/community">community feed</a> or{' '}
            <a href="/search">search</a> for them.
          </>
        }
      />
    </>
  );
}

export function Home() {
  useTitle('Home');
  if (!signedIn.value) return <Welcome />;
  return (
    <RequireAuth>
      <HomeFeed />
    </RequireAuth>
  );
}

export function Community() {
  useTitle('Community');
  const source = useMemo(() => feeds.community(), []);
  const ctl = useMemo<FeedController>(() => ({}), []);
  return (
    <>
      <h1 class="page-title">Community</h1>
      <p class="muted page-sub">Everyone's posts, newest first.</p>
      {signedIn.value && (
        <Composer
          onPosted={(p) => {
            ctl.prepend?.(p);
            toast('Your post is live');
          }}
        />
      )}
      <Feed source={source} controller={ctl} empty="Nobody has posted yet. Say hello!" />
    </>
  );
}

export function TagPage({ tag }: { tag: string }) {
  const t = asTag(tag) ?? tag;
  useTitle(`#${t}`);
  const source = useMemo(() => feeds.tag(t), [t]);
  return (
    <>
      <h1 class="page-title">#{t}</h1>
      <p class="muted page-sub">Posts tagged #{t}, newest first.</p>
      <Feed source={source} empty={`No posts with #${t} yet.`} />
    </>
  );
}
