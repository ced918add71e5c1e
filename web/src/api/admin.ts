// The calls of issue 14 only the pages loaded on demand make (moderation,
// settings subpages, mail links, the report dialog); their types are in
// safety.ts.

import { get, request } from './client';
import type {
  AccountAction,
  AdminReport,
  AdminUser,
  AuditEntry,
  Invite,
  Page,
  Report,
  ReportReason,
  ReportTargetType,
  ResolveAction,
  Role,
  SessionInfo,
  Status,
} from './safety';
import type { Session, User } from './types';

const enc = encodeURIComponent;
type Q = Record<string, string | number | boolean | null | undefined>;

export const reports = {
  create: (body: { targetType: ReportTargetType; targetId: string; reason: ReportReason; comment?: string }) =>
    request<Report>('POST', '/api/reports', { body }),
};

export const lists = {
  blocks: (cursor: string | null) => get<Page<User>>('/api/blocks', { cursor, limit: 20 }),
  mutes: (cursor: string | null) => get<Page<User>>('/api/mutes', { cursor, limit: 20 }),
};

export const account = {
  changePassword: (currentPassword: string, newPassword: string) =>
    request<void>('PUT', '/api/profile/password', { body: { currentPassword, newPassword } }),
  sessions: () => get<{ items: SessionInfo[] }>('/api/auth/sessions'),
  revokeSession: (id: string) => request<void>('DELETE', `/api/auth/sessions/${enc(id)}`),
  revokeOtherSessions: () => request<void>('DELETE', '/api/auth/sessions'),
  requestReset: (email: string) => request<Status>('POST', '/api/auth/password-reset', { body: { email } }),
  confirmReset: (token: string, newPassword: string) =>
    request<void>('POST', '/api/auth/password-reset/confirm', { body: { token, newPassword } }),
  verifyEmail: (token: string) => request<Session>('POST', '/api/auth/verify-email', { body: { token } }),
  resendVerification: (email: string) => request<Status>('POST', '/api/auth/verify-email/resend', { body: { email } }),
  exportZip: () => request<Blob>('GET', '/api/profile/export', { blob: true, headers: { Accept: 'application/zip' } }),
  remove: (password: string) => request<Status>('DELETE', '/api/profile', { body: { password } }),
};

export const admin = {
  users: (q: Q) => get<Page<AdminUser>>('/api/admin/users', q),
  user: (id: string) => get<AdminUser>(`/api/admin/users/${enc(id)}`),
  setRole: (id: string, role: Role) => request<AdminUser>('PUT', `/api/admin/users/${enc(id)}/role`, { body: { role } }),
  act: (id: string, action: AccountAction, note?: string) =>
    request<AdminUser>('POST', `/api/admin/users/${enc(id)}/${action}`, { body: { note: note || undefined } }),
  reports: (status: 'open' | 'resolved', cursor: string | null) =>
    get<Page<AdminReport>>('/api/admin/reports', { status, cursor, limit: 20 }),
  report: (id: string) => get<AdminReport>(`/api/admin/reports/${enc(id)}`),
  resolve: (id: string, action: ResolveAction, note?: string) =>
    request<AdminReport>('POST', `/api/admin/reports/${enc(id)}/resolve`, { body: { action, note: note || undefined } }),
  audit: (cursor: string | null) => get<Page<AuditEntry>>('/api/admin/audit', { cursor, limit: 30 }),
  registrations: (cursor: string | null) => get<Page<AdminUser>>('/api/admin/registrations', { cursor, limit: 20 }),
  approve: (id: string) => request<AdminUser>('POST', `/api/admin/registrations/${enc(id)}/approve`),
  reject: (id: string) => request<void>('POST', `/api/admin/registrations/${enc(id)}/reject`),
  invites: (cursor: string | null) => get<Page<Invite>>('/api/invites', { cursor, limit: 50 }),
  createInvite: (maxUses: number, expiresInHours: number) =>
    request<Invite>('POST', '/api/invites', { body: { maxUses, expiresInHours } }),
  revokeInvite: (code: string) => request<void>('DELETE', `/api/invites/${enc(code)}`),
};
