// Typed calls, one per endpoint the app uses.

import { get, randomKey, request, upload } from './client';
import type {
  Comment,
  CommentPage,
  Media,
  NotificationPage,
  Post,
  PostHistory,
  PostList,
  PostPage,
  Profile,
  ProfileUpdate,
  PushSubscriptionRecord,
  RegisterRequest,
  Session,
  UnreadCount,
  User,
  UserPage,
  VapidKey,
} from './types';

const enc = encodeURIComponent;

export const auth = {
  register: (body: RegisterRequest) =>
    request<Session>('POST', '/api/auth/register', { body }),
  login: (login: string, password: string) =>
    request<Session>('POST', '/api/auth/login', { body: { login, password } }),
  /** Uses the refresh cookie (the body stays empty). */
  refresh: () => request<Session>('POST', '/api/auth/refresh'),
  logout: () => request<void>('POST', '/api/auth/logout'),
};

export const profile = {
  get: () => request<Profile>('GET', '/api/profile', { noRenew: true }),
  update: (body: ProfileUpdate) =>
    request<Profile>('PATCH', '/api/profile', { body }),
  avatar: (file: Blob, onProgress: (f: number) => void, signal?: AbortSignal) =>
    upload<Profile>('PUT', '/api/profile/avatar', file, onProgress, signal),
  /** Deletes the account (202); its data is removed in the background. */
  remove: (password: string) =>
    request<{ status: string }>('DELETE', '/api/profile', { body: { password } }),
};

export interface Cursor {
  cursor?: string | null;
  limit?: number;
}

export const users = {
  search: (q: string, p: Cursor = {}, signal?: AbortSignal) =>
    get<UserPage>('/api/users', { q, ...p }, signal),
  byUsername: (username: string) => get<User>(`/api/users/by-username/${enc(username)}`),
  follow: (id: string) => request<User>('PUT', `/api/users/${enc(id)}/follow`),
  unfollow: (id: string) => request<User>('DELETE', `/api/users/${enc(id)}/follow`),
  followers: (id: string, p: Cursor = {}) => get<UserPage>(`/api/users/${enc(id)}/followers`, { ...p }),
  following: (id: string, p: Cursor = {}) => get<UserPage>(`/api/users/${enc(id)}/following`, { ...p }),
};

export const media = {
  upload: (file: Blob, onProgress: (f: number) => void, signal?: AbortSignal) =>
    upload<Media>('POST', '/api/media', file, onProgress, signal),
};

export const posts = {
  create: (text: string, mediaIds: string[], key = randomKey()) =>
    request<Post>('POST', '/api/posts', { body: { text, mediaIds }, headers: { 'Idempotency-Key': key } }),
  /** Re-reads posts; the ones missing from the answer are gone. */
  refetch: (ids: string[]) => get<PostList>('/api/posts', { ids: ids.join(',') }),
  get: (id: string) => get<Post>(`/api/posts/${enc(id)}`),
  edit: (id: string, text: string) => request<Post>('PATCH', `/api/posts/${enc(id)}`, { body: { text } }),
  remove: (id: string) => request<void>('DELETE', `/api/posts/${enc(id)}`),
  history: (id: string) => get<PostHistory>(`/api/posts/${enc(id)}/history`),
  love: (id: string, on: boolean) => request<Post>(on ? 'PUT' : 'DELETE', `/api/posts/${enc(id)}/love`),
  lovers: (id: string, p: Cursor = {}) => get<UserPage>(`/api/posts/${enc(id)}/lovers`, { ...p }),
  comments: (id: string, p: Cursor = {}) => get<CommentPage>(`/api/posts/${enc(id)}/comments`, { ...p }),
  comment: (id: string, text: string, parentId?: string) =>
    request<Comment>('POST', `/api/posts/${enc(id)}/comments`, { body: { text, parentId } }),
  search: (q: string, p: Cursor = {}) => get<PostPage>('/api/search/posts', { q, ...p }),
};

export const comments = {
  replies: (id: string, p: Cursor = {}) => get<CommentPage>(`/api/comments/${enc(id)}/replies`, { ...p }),
  edit: (id: string, text: string) => request<Comment>('PATCH', `/api/comments/${enc(id)}`, { body: { text } }),
  remove: (id: string) => request<void>('DELETE', `/api/comments/${enc(id)}`),
  love: (id: string, on: boolean) => request<Comment>(on ? 'PUT' : 'DELETE', `/api/comments/${enc(id)}/love`),
};

export const notifications = {
  list: (p: Cursor & { unreadOnly?: boolean } = {}) =>
    get<NotificationPage>('/api/notifications', { ...p, unreadOnly: p.unreadOnly || undefined }),
  unreadCount: () => get<UnreadCount>('/api/notifications/unread-count'),
  /** Answers the new unread count. */
  markRead: (id: string) => request<UnreadCount>('PATCH', `/api/notifications/${enc(id)}/read`),
  markAllRead: () => request<UnreadCount>('PUT', '/api/notifications/read-all'),
};

export const push = {
  vapidKey: () => get<VapidKey>('/api/push/vapid-public-key'),
  /** `body` is the browser's `PushSubscription.toJSON()`. */
  subscribe: (body: PushSubscriptionJSON) => request<PushSubscriptionRecord>('POST', '/api/push/subscriptions', { body }),
  unsubscribe: (id: string) => request<void>('DELETE', `/api/push/subscriptions/${enc(id)}`),
};

/** A feed the app can page through and ask for newer posts (`since`). */
export interface FeedSource {
  /** Distinguishes feeds (e.g. for keys). */
  key: string;
  page(cursor: string | null): Promise<PostPage>;
  /** Posts newer than `since`, or null if this feed cannot say. */
  newer: ((since: string) => Promise<PostPage>) | null;
}

function feedAt(key: string, path: string, extra: Record<string, string> = {}): FeedSource {
  return {
    key,
    page: (cursor) => get<PostPage>(path, { ...extra, cursor, limit: 20 }),
    newer: (since) => get<PostPage>(path, { ...extra, since, limit: 50 }),
  };
}

export const feeds = {
  home: () => feedAt('home', '/api/feed'),
  community: () => feedAt('community', '/api/feed/public'),
  user: (id: string) => feedAt(`user:${id}`, `/api/users/${enc(id)}/posts`),
  tag: (tag: string) => feedAt(`tag:${tag}`, `/api/tags/${enc(tag)}/posts`),
  search: (q: string): FeedSource => ({
    key: `search:${q}`,
    page: (cursor) => posts.search(q, { cursor, limit: 20 }),
    newer: null,
  }),
};
