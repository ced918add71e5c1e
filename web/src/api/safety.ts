// Safety and the account lifecycle (issue 14): reports, blocks and mutes,
// moderation, registration modes, password and sessions, export and deletion.
//
// Each type below is the generated one (schema.d.ts) once the server serves
// it under the contract's name, and until then the contract's shape written
// out here (`Generated<'Name', Fallback>`), so the app builds before and after
// the server side lands. Fields the contract adds to existing objects (the
// relationship flags on User, `role` on Profile, `readOnly` on ChatRoom) are read through the small
// helpers at the end; a message's missing sender through chat/util.ts.

import type { ChatRoom } from '../chat/types';
import { get, request } from './client';
import type { Comment, Post, Profile, User } from './types';
import type { components } from './schema';

type Schemas = components['schemas'];
/** The generated schema `N` when the OpenAPI document has it, else `F`. */
type Generated<N extends string, F> = N extends keyof Schemas ? Schemas[N] : F;

const enc = encodeURIComponent;

export type Role = 'user' | 'moderator' | 'admin';
export type ReportTargetType = 'user' | 'post' | 'comment' | 'message';
export type ReportReason = 'spam' | 'harassment' | 'illegal' | 'other';
export type ResolveAction = 'dismiss' | 'remove_content' | 'suspend' | 'silence';
export type AccountAction = 'suspend' | 'unsuspend' | 'silence' | 'unsilence';
export type AccountStatus = 'all' | 'suspended' | 'silenced' | 'pending';
export type RegistrationMode = 'open' | 'approval' | 'invite' | 'closed';

export type Report = Generated<
  'Report',
  {
    id: string;
    targetType: ReportTargetType | string;
    targetId: string;
    reason: ReportReason | string;
    comment?: string | null;
    status: 'open' | 'resolved' | string;
    createdAt: string;
  }
>;

export interface ReportedMessage {
  id: string;
  roomId: string;
  senderId?: string | null;
  text: string;
  createdAt: string;
}

export type AdminReport = Generated<
  'AdminReport',
  Report & {
    reporter: User;
    targetUser?: User | null;
    post?: Post | null;
    reportedComment?: Comment | null;
    message?: ReportedMessage | null;
    resolution?: { action: string; note?: string | null; moderator?: User | null; resolvedAt: string } | null;
  }
>;

export type AdminUser = Generated<
  'AdminUser',
  {
    id: string;
    username: string;
    displayName?: string | null;
    email: string;
    role: Role | string;
    suspended: boolean;
    silenced: boolean;
    pending: boolean;
    emailVerified: boolean;
    createdAt: string;
    suspendedAt?: string | null;
    silencedAt?: string | null;
  }
>;

export type AuditEntry = Generated<
  'AuditEntry',
  {
    id: string;
    moderator: User;
    action: string;
    targetType: string;
    targetId: string;
    note?: string | null;
    createdAt: string;
  }
>;

export type Invite = Generated<
  'Invite',
  { code: string; maxUses: number; uses: number; expiresAt: string; createdAt: string; createdBy: User }
>;

export type Instance = Generated<
  'Instance',
  {
    registrationMode: RegistrationMode | string;
    requireEmailVerification: boolean;
    limits: { postMaxChars: number; mediaMaxBytes: number; avatarMaxBytes: number; mediaPerPost: number };
  }
>;

export type SessionInfo = Generated<
  'DeviceSession',
  { id: string; device: string; address: string; createdAt: string; lastUsedAt: string; current: boolean }
>;

/** What register answers without signing in (202). */
export interface Status {
  status: string;
}

export interface Page<T> {
  items: T[];
  nextCursor?: string | null;
}



export const relations = {
  block: (id: string, on: boolean) => request<User>(on ? 'PUT' : 'DELETE', `/api/users/${enc(id)}/block`),
  mute: (id: string, on: boolean) => request<User>(on ? 'PUT' : 'DELETE', `/api/users/${enc(id)}/mute`),
};

/** The server's public settings (GET /api/instance). */
export const instance = () => get<Instance>('/api/instance');

// ---- fields the contract adds to existing objects ----

/** The caller's relationship to a user (false when the server does not say). */
export function relation(u: User): { blocking: boolean; muting: boolean } {
  const r = u as User & { blocking?: boolean; muting?: boolean };
  return { blocking: r.blocking === true, muting: r.muting === true };
}

/** The signed-in user's role ('user' when the server does not say). */
export function roleOf(p: Profile | null | undefined): Role {
  const r = (p as (Profile & { role?: string }) | null | undefined)?.role;
  return r === 'moderator' || r === 'admin' ? r : 'user';
}

export function isModerator(p: Profile | null | undefined): boolean {
  return roleOf(p) !== 'user';
}

/** A direct room where either person blocks the other: it can be read, not written to. */
export function isReadOnly(room: ChatRoom | null | undefined): boolean {
  return (room as (ChatRoom & { readOnly?: boolean }) | null | undefined)?.readOnly === true;
}
