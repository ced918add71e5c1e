// Routes. New pages add a <Route> here and an entry in nav.ts. Pages only
// signed-in people open often are loaded when first visited (preact-iso's
// lazy), to keep the first download small.

import { useEffect, useRef } from 'preact/hooks';
import { LocationProvider, Route, Router, lazy, useRoute } from 'preact-iso';
import { Layout } from './components/Layout';
import { Spinner } from './components/ui';
import { Login, Logout, Register } from './pages/Auth';
import { Community, Home, TagPage } from './pages/Feeds';
import { NotFound } from './pages/NotFound';
import { PostView } from './pages/PostView';
import { FollowListPage, ProfilePage } from './pages/Profile';
import { Search } from './pages/Search';
import { Settings } from './pages/Settings';

const Notifications = lazy(() => import('./pages/Notifications'));
import { boot, status } from './session';

// Each page keyed by its parameters, so moving from one profile to another
// starts the page afresh.
const Post = () => {
  const { params } = useRoute();
  return <PostView key={params.id} id={params.id} />;
};
const Profile = () => {
  const { params } = useRoute();
  return <ProfilePage key={params.username} username={params.username} />;
};
const Followers = () => {
  const { params } = useRoute();
  return <FollowListPage key={`f:${params.username}`} username={params.username} which="followers" />;
};
const Following = () => {
  const { params } = useRoute();
  return <FollowListPage key={`g:${params.username}`} username={params.username} which="following" />;
};
// The messenger (and socket.io-client with it) loads when first opened.
const MessagesPage = lazy(() => import('./pages/Messages').then((m) => m.MessagesPage));
// One route for the list and a conversation, so moving between rooms keeps the list.
const Messages = () => {
  const { params } = useRoute();
  return <MessagesPage roomId={params.id || null} />;
};
const SettingsPage = () => {
  const { params } = useRoute();
  return <Settings section={params.section ?? ''} />;
};
// Pages few people open, each its own chunk.
const ResetPassword = lazy(() => import('./pages/Recovery').then((m) => m.ResetPassword));
const VerifyEmail = lazy(() => import('./pages/Recovery').then((m) => m.VerifyEmail));
const ModerationPage = lazy(() => import('./pages/Moderation').then((m) => m.ModerationPage));
const Moderation = () => {
  const { params } = useRoute();
  return <ModerationPage tab={params.tab ?? 'reports'} id={params.id ?? null} />;
};
const Tag = () => {
  const { params } = useRoute();
  return <TagPage key={params.tag} tag={params.tag} />;
};

function Unreachable() {
  return (
    <div class="card">
      <h1>Cannot reach Starling</h1>
      <p>The server did not answer. Check your connection.</p>
      <button type="button" class="btn btn-primary" onClick={() => void boot()}>
        Try again
      </button>
    </div>
  );
}

function Routes() {
  const first = useRef(true);
  const onRouteChange = () => {
    // A new page: start at its top and move focus there for screen readers.
    if (first.current) {
      first.current = false;
      return;
    }
    if (!location.hash) window.scrollTo(0, 0);
    document.getElementById('main')?.focus({ preventScroll: true });
  };
  if (status.value === 'loading') return <Spinner label="Starting…" />;
  if (status.value === 'unreachable') return <Unreachable />;
  return (
    <Router onRouteChange={onRouteChange}>
      <Route path="/" component={Home} />
      <Route path="/community" component={Community} />
      <Route path="/login" component={Login} />
      <Route path="/register" component={Register} />
      <Route path="/logout" component={Logout} />
      <Route path="/p/:id" component={Post} />
      <Route path="/u/:username" component={Profile} />
      <Route path="/u/:username/followers" component={Followers} />
      <Route path="/u/:username/following" component={Following} />
      <Route path="/tags/:tag" component={Tag} />
      <Route path="/messages/:id?" component={Messages} />
      <Route path="/search" component={Search} />
      <Route path="/settings/:section?" component={SettingsPage} />
      <Route path="/reset-password" component={ResetPassword} />
      <Route path="/verify-email" component={VerifyEmail} />
      <Route path="/moderation/:tab?/:id?" component={Moderation} />
      <Route path="/notifications" component={Notifications} />
      <Route default component={NotFound} />
    </Router>
  );
}

export function App() {
  useEffect(() => {
    void boot();
  }, []);
  return (
    // Links to the API, its docs and media are left to the browser.
    <LocationProvider scope={/^\/(?!api(\/|$)|media\/)/}>
      <Layout>
        <Routes />
      </Layout>
    </LocationProvider>
  );
}
