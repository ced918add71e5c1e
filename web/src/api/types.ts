// Wire types of the Starling API, named as the app uses them. None is written
// by hand: each is taken from schema.d.ts, which openapi-typescript generates
// from the server's OpenAPI document (openapi.json beside it). After a change
// to the server's wire types, `scripts/openapi-types` refreshes both files;
// a test in the server's suite fails while they differ from what it serves.
//
// Types whose schema name is part of the API's naming (Post, User, ...) are
// taken by that name; the others by the path that answers them, so renaming
// a schema on the server does not rename them here.

import type { components, paths } from './schema';

type Schemas = components['schemas'];
type Method = 'get' | 'put' | 'post' | 'delete' | 'patch';

/** The JSON body that `method path` answers with `status`. */
export type Answer<P extends keyof paths, M extends Method, S extends number = 200> =
  NonNullable<paths[P][M]> extends { responses: infer R }
    ? S extends keyof R
      ? R[S] extends { content: { 'application/json': infer B } }
        ? B
        : never
      : never
    : never;

/** The JSON body that `method path` takes. */
export type RequestBody<P extends keyof paths, M extends Method> =
  NonNullable<paths[P][M]> extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never;

export type User = Schemas['User'];
export type Profile = Schemas['Profile'];
/** `accessToken` and `refreshToken` are absent when the session was refreshed by cookie. */
export type Session = Answer<'/api/auth/login', 'post'>;
export type Author = Schemas['Author'];
export type Media = Answer<'/api/media', 'post', 201>;
export type Post = Schemas['Post'];
export type Comment = Schemas['Comment'];
export type PostVersion = Answer<'/api/posts/{id}/history', 'get'>['items'][number];
export type Notification = Schemas['Notification'];
export type NotificationSubject = Schemas['NotificationSubject'];
/** Unread notifications. */
export type UnreadCount = Answer<'/api/notifications/unread-count', 'get'>;
/** What the server answers to a new push subscription. */
export type PushSubscriptionRecord = Answer<'/api/push/subscriptions', 'post', 201>;
export type ErrorBody = Schemas['ErrorBody'];

export type RegisterRequest = RequestBody<'/api/auth/register', 'post'>;
export type ProfileUpdate = RequestBody<'/api/profile', 'patch'>;

/** A page of a list; `nextCursor` is null on the last page. */
export interface Page<T> {
  items: T[];
  nextCursor?: string | null;
}
export type UserPage = Answer<'/api/users', 'get'>;
export type CommentPage = Answer<'/api/posts/{id}/comments', 'get'>;
export type NotificationPage = Answer<'/api/notifications', 'get'>;
/** `hasMore` only with `since`: more new posts exist than were returned. */
export type PostPage = Answer<'/api/feed', 'get'>;
export type PostList = Answer<'/api/posts', 'get'>;
export type PostHistory = Answer<'/api/posts/{id}/history', 'get'>;
export type VapidKey = Answer<'/api/push/vapid-public-key', 'get'>;

/**
 * The kinds of notification the app shows in its own way. `Notification.type`
 * is any string (the server may add kinds), so the app falls back for others.
 */
export type NotificationType = 'love' | 'comment' | 'reply' | 'mention' | 'follow' | 'message' | 'report';
