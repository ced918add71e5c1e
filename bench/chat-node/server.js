// Reference chat server for `starling-bench chat`: npm socket.io v4, in
// memory, with the events and room semantics of Starling's chat
// (docs/chat.md) that the benchmark uses, so the two servers do the same
// work per message:
//
//   POST /api/auth/register {username}  -> 201 {user, accessToken, ...}
//                                          (no password hashing: the token
//                                          is the user id with a prefix)
//   POST /api/chat/rooms {name, memberIds} -> 201 ChatRoom (caller included)
//   GET  /health                        -> 200
//   Socket.IO at /socket.io, auth {token}; every socket joins `user:{id}`
//     join-room {roomId}         -> ack {room, unreadCount: 0}, joins the room
//     leave-room {roomId}        -> ack {ok: true}
//     send-message {roomId, text, clientMsgId}
//                                -> ack {message}; `receive-message` to the
//                                   room's sockets, `new-message` to every
//                                   member's personal channel
//     typing {roomId, typing}    -> ack {ok: true}; relayed to the room
//                                   except the typist
//
// Usage: node server.js [--port N] [--host H]   (or PORT / HOST)
// Prints `listening on http://HOST:PORT` once ready; port 0 picks a free one.
'use strict';

const http = require('node:http');
const { Server } = require('socket.io');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1];
  return fallback;
}

const port = Number(arg('port', process.env.PORT || 0));
const host = arg('host', process.env.HOST || '127.0.0.1');
const TOKEN_PREFIX = 'node-';

const users = new Map(); // id -> Author
const rooms = new Map(); // id -> {id, name, ownerId, members: [id], createdAt}
let nextUserId = 1;
let nextRoomId = 1;
let nextMessageId = 1;

function author(id) {
  return users.get(id) || { id, username: `user${id}`, displayName: null, avatarUrl: null };
}

function chatRoom(room) {
  return {
    id: room.id,
    kind: 'group',
    name: room.name,
    ownerId: room.ownerId,
    members: room.members.map(author),
    lastMessage: room.lastMessage || null,
    unreadCount: 0,
    reads: [],
    lastActivityAt: room.lastActivityAt,
    createdAt: room.createdAt,
  };
}

function userOfToken(token) {
  if (typeof token !== 'string' || !token.startsWith(TOKEN_PREFIX)) return null;
  const id = token.slice(TOKEN_PREFIX.length);
  return id.length > 0 ? id : null;
}

function error(code, message) {
  return { error: { code, message } };
}

function send(res, status, body) {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function readJson(req, done) {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    try {
      done(JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}'));
    } catch {
      done(null);
    }
  });
}

function bearer(req) {
  const h = req.headers.authorization || '';
  return userOfToken(h.startsWith('Bearer ') ? h.slice(7) : '');
}

const httpServer = http.createServer((req, res) => {
  const path = (req.url || '').split('?')[0];
  if (req.method === 'GET' && path === '/health') return send(res, 200, { status: 'ok' });
  if (req.method === 'POST' && path === '/api/auth/register') {
    return readJson(req, (body) => {
      if (!body || typeof body.username !== 'string') {
        return send(res, 422, error('validation_failed', 'username is required'));
      }
      const id = String(nextUserId++);
      const user = { id, username: body.username, displayName: null, avatarUrl: null };
      users.set(id, user);
      send(res, 201, {
        user: { ...user, email: body.email || null },
        accessToken: TOKEN_PREFIX + id,
        refreshToken: TOKEN_PREFIX + id,
        expiresIn: 86400,
      });
    });
  }
  if (req.method === 'POST' && path === '/api/chat/rooms') {
    const caller = bearer(req);
    if (!caller) return send(res, 401, error('unauthorized', 'bad token'));
    return readJson(req, (body) => {
      if (!body || !Array.isArray(body.memberIds)) {
        return send(res, 422, error('validation_failed', 'memberIds is required'));
      }
      const members = [caller];
      for (const m of body.memberIds) {
        const id = String(m);
        if (!members.includes(id)) members.push(id);
      }
      const now = new Date().toISOString();
      const room = {
        id: String(nextRoomId++),
        name: typeof body.name === 'string' ? body.name : null,
        ownerId: caller,
        members,
        memberSet: new Set(members),
        lastMessage: null,
        lastActivityAt: now,
        createdAt: now,
      };
      rooms.set(room.id, room);
      send(res, 201, chatRoom(room));
    });
  }
  send(res, 404, error('not_found', 'no such route'));
});

const io = new Server(httpServer, { serveClient: false });

io.use((socket, next) => {
  const id = userOfToken(socket.handshake.auth && socket.handshake.auth.token);
  if (!id) return next(new Error('unauthorized: missing or bad token'));
  socket.data.userId = id;
  next();
});

function memberRoom(socket, payload, ack) {
  const room = payload && rooms.get(String(payload.roomId));
  if (!room || !room.memberSet.has(socket.data.userId)) {
    if (typeof ack === 'function') ack(error('not_found', 'no such room'));
    return null;
  }
  return room;
}

io.on('connection', (socket) => {
  const userId = socket.data.userId;
  socket.join(`user:${userId}`);

  socket.on('join-room', (payload, ack) => {
    const room = memberRoom(socket, payload, ack);
    if (!room) return;
    socket.join(`room:${room.id}`);
    if (typeof ack === 'function') ack({ room: chatRoom(room), unreadCount: 0 });
  });

  socket.on('leave-room', (payload, ack) => {
    const room = memberRoom(socket, payload, ack);
    if (!room) return;
    socket.leave(`room:${room.id}`);
    if (typeof ack === 'function') ack({ ok: true });
  });

  socket.on('send-message', (payload, ack) => {
    const room = memberRoom(socket, payload, ack);
    if (!room) return;
    if (typeof payload.text !== 'string' || typeof payload.clientMsgId !== 'string') {
      if (typeof ack === 'function') ack(error('validation_failed', 'text and clientMsgId'));
      return;
    }
    const now = new Date().toISOString();
    const message = {
      id: String(nextMessageId++),
      roomId: room.id,
      sender: author(userId),
      text: payload.text,
      clientMsgId: payload.clientMsgId,
      retracted: false,
      createdAt: now,
    };
    room.lastMessage = message;
    room.lastActivityAt = now;
    if (typeof ack === 'function') ack({ message });
    io.to(`room:${room.id}`).emit('receive-message', message);
    io.to(room.members.map((m) => `user:${m}`)).emit('new-message', { roomId: room.id, message });
  });

  socket.on('typing', (payload, ack) => {
    const room = memberRoom(socket, payload, ack);
    if (!room) return;
    socket
      .to(`room:${room.id}`)
      .emit('typing', { roomId: room.id, userId, typing: Boolean(payload.typing) });
    if (typeof ack === 'function') ack({ ok: true });
  });
});

httpServer.listen(port, host, () => {
  const a = httpServer.address();
  console.log(`listening on http://${a.address}:${a.port}`);
});

function stop() {
  io.close();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
