// Wire types of the Starling API (see /api/openapi.json). Ids are strings,
// times RFC 3339 UTC, lists are pages with an opaque `nextCursor`.

export interface User {
  id: string;
  username: string;
  displayName: string | null;
  bio: string;
  avatarUrl: string | null;
  followerCount: number;
  followingCount: number;
  followedByMe: boolean;
  createdAt: string;
}

export interface Profile extends User {
  email: string;
}

export interface Session {
  user: Profile;
  /** Absent when the session was refreshed by cookie. */
  accessToken?: string;
  /** Absent when the session was refreshed by cookie. */
  refreshToken?: string;
  expiresIn: number;
}

export interface Author {
  id: string;
  username: string;
  displayName: string | null;
  avatarUrl: string | null;
}

export interface Media {
  id: string;
  url: string;
  previewUrl: string;
  contentType: string;
  size: number;
  width: number;
  height: number;
}

export interface Post {
  id: string;
  author: Author;
  text: string;
  media: Media[];
  mentions: { id: string; username: string }[];
  tags: string[];
  loveCount: number;
  commentCount: number;
  lovedByMe: boolean;
  createdAt: string;
  editedAt: string | null;
}

export interface Comment {
  id: string;
  postId: string;
  parentId: string | null;
  author: Author;
  text: string;
  loveCount: number;
  replyCount: number;
  lovedByMe: boolean;
  createdAt: string;
  editedAt: string | null;
  deleted: boolean;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface PostPage extends Page<Post> {
  /** Only with `since`: more new posts exist than were returned. */
  hasMore?: boolean;
}

export interface PostVersion {
  version: number;
  text: string;
  createdAt: string;
}

export type NotificationType = 'love' | 'comment' | 'reply' | 'mention' | 'follow' | 'message';

export interface NotificationSubject {
  id: string;
  /** The start of its text (at most 140 characters). */
  excerpt: string;
}

export interface Notification {
  id: string;
  type: NotificationType;
  actor: Author;
  /** The post concerned (loves, comments, replies, mentions). */
  post?: NotificationSubject;
  /** The comment concerned (a loved comment, a new comment or reply, a mention in a comment). */
  comment?: NotificationSubject;
  /** The chat room of a `message` notification. */
  roomId?: string;
  createdAt: string;
  read: boolean;
}

export interface UnreadCount {
  count: number;
}

/** What the server answers to a new push subscription. */
export interface PushSubscriptionRecord {
  id: string;
  endpoint: string;
  createdAt: string;
}

export interface ErrorBody {
  error: { code: string; message: string; fields?: Record<string, string> };
}
