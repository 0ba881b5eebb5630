import { randomBytes } from 'node:crypto';

/**
 * Client-chosen session keys: letters, digits, ".", "_" and "-", 1–128 characters.
 * ":" is reserved for child threads ("<sessionKey>:<agent>"), so a client cannot
 * create a key that collides with a sub-agent's thread.
 */
export const SESSION_KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A 26-character ULID: time-ordered, so ids sort by creation. */
export function ulid(now = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i += 1) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const bytes = randomBytes(16);
  let random = '';
  for (let i = 0; i < 16; i += 1) random += CROCKFORD[bytes[i]! % 32];
  return time + random;
}

/** A server-assigned session key (auto mode). */
export function newSessionKey(now?: number): string {
  return `s-${ulid(now).toLowerCase()}`;
}

/** A new thread incarnation id. */
export function newThreadId(now?: number): string {
  return `thr_${ulid(now)}`;
}
