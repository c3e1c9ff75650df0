import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/*
 * Passwords are people's, so they get a slow, memory-hard hash: scrypt (node:crypto) with N=2^15, r=8, p=1
 * (~32 MiB, tens of ms). Stored as `scrypt$N$r$p$salt$hash` so the cost can be raised later per password.
 */
const N = 1 << 15;
const R = 8;
const P = 1;
const KEY_BYTES = 32;
export const PASSWORD_MIN = 12;

function derive(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, KEY_BYTES, { N: n, r, p, maxmem: 256 * n * r }, (error, key) => {
      if (error === null) resolve(key);
      else reject(error);
    });
  });
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, N, R, P);
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || salt === undefined || hash === undefined) return false;
  const expected = Buffer.from(hash, 'base64');
  const actual = await derive(password, Buffer.from(salt, 'base64'), Number(n), Number(r), Number(p));
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** A hash of a random password, for comparing against when the user does not exist (same cost either way). */
export const DUMMY_HASH_PROMISE = hashPassword(randomBytes(16).toString('hex'));
