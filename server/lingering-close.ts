/**
 * Lingering close (RFC 9112 §9.6): a connection is closed in two steps when the client may still be
 * sending. The service answers some requests before it has read their body — a 401 from the auth
 * hook, a 404 or 405 from the router, a 413 from the body limit, a 4xx from Node's parser. Node then
 * closes the socket at once (`destroySoon`), and closing a socket that has unread input makes the
 * kernel answer the client's next bytes with a reset. A client still writing its body sees a broken
 * pipe, and one that writes everything before it reads (most do) may lose the answer with it: the
 * fuzzer's rare "connection closed without an answer" on long requests with bodies.
 *
 * Instead: send FIN after the answer (`end`), keep reading and dropping what the client still sends,
 * and destroy the socket when the client closes its side or after `LINGER_MS`, whichever is first.
 * Requests read whole close as before.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';

/** How long a closing connection keeps reading what its client still sends. */
export const LINGER_MS = 2000;

/** Ends the socket (FIN), drains its input and destroys it when the client is done or after `ms`. */
export function lingeringClose(socket: Socket, ms = LINGER_MS): void {
  if (socket.destroyed) return;
  const timer = setTimeout(() => socket.destroy(), ms);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  // The client's FIN: nothing more can come, the connection is done.
  socket.once('end', () => socket.destroy());
  socket.end();
  socket.resume();
}

/** The request being answered on each socket (the last one parsed). */
const current = new WeakMap<Socket, IncomingMessage>();

/**
 * Makes the HTTP server close connections with `lingeringClose` when the request on them was not
 * read whole; others close as Node closes them.
 */
export function installLingeringClose(server: Server, ms = LINGER_MS): void {
  server.on('request', (req: IncomingMessage) => { current.set(req.socket, req); });
  server.on('connection', (socket: Socket & { destroySoon?: () => void }) => {
    const destroySoon = socket.destroySoon;
    if (typeof destroySoon !== 'function') return;
    socket.destroySoon = function lingerIfUnread(this: Socket & { destroySoon?: () => void }) {
      const req = current.get(socket);
      if (req && !req.complete && !socket.destroyed) lingeringClose(socket, ms);
      else destroySoon.call(this);
    };
  });
}
