import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { clearTimeout, setTimeout } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';

/*
 * Every process and temp dir the bench creates is registered here and removed by `cleanup()`: servers and load
 * generators are stopped by their own PID, never by name, so other work on the machine is left alone.
 */

const children = new Set();
const dirs = new Set();

export function makeTempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), `keybox-bench-${prefix}-`));
  dirs.add(dir);
  return dir;
}

export function removeTempDir(dir) {
  rmSync(dir, { recursive: true, force: true });
  dirs.delete(dir);
}

/**
 * Starts a long-running process and waits until it prints `listening on URL` on stderr.
 * Returns `{ child, pid, url, stderr() }`.
 */
export function startServer(file, args, { env = process.env, cwd, timeoutMs = 30_000 } = {}) {
  const child = spawn(file, args, { env, cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let text = '';
  let settled = false;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`${file} did not start within ${timeoutMs} ms`)), timeoutMs);
    const fail = (error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void stopProcess(child);
      reject(new Error(`${error.message}\n${text.slice(-2000)}`));
    };
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      if (text.length < 64 * 1024) text += chunk;
      const match = /listening on (https?:\/\/[^\s]+)/.exec(text);
      if (match !== null && !settled) {
        settled = true;
        clearTimeout(timer);
        resolve({ child, pid: child.pid, url: match[1], stderr: () => text });
      }
    });
    child.once('error', fail);
    child.once('exit', (code, signal) => fail(new Error(`${file} exited early (${signal ?? code})`)));
  });
}

/** Runs a command to completion; resolves with its stdout, rejects on a non-zero exit. */
export function runToEnd(file, args, { env = process.env, cwd, input } = {}) {
  const child = spawn(file, args, { env, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c) => (err += c));
  child.stdin.end(input);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      children.delete(child);
      if (code === 0) resolve(out);
      else reject(new Error(`${file} ${args.slice(0, 3).join(' ')} exited ${signal ?? code}: ${err.slice(-2000)}`));
    });
  });
}

/** SIGTERM by PID, then SIGKILL if it is still there after `graceMs`. */
export async function stopProcess(child, graceMs = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  process.kill(child.pid, 'SIGTERM');
  const done = await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)]);
  if (!done) {
    process.kill(child.pid, 'SIGKILL');
    await exited;
  }
  children.delete(child);
}

/** Resident set size of a process in MiB (Linux /proc). */
export function rssMiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
  return kb / 1024;
}

/**
 * CPU time a process has used so far, in ms (Linux /proc; user + system, at the kernel's 10 ms tick): `all` its
 * threads, `main` its main thread alone (the event loop of a Node process).
 */
export function cpuMs(pid) {
  const ticks = (stat) => {
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  };
  return {
    all: ticks(readFileSync(`/proc/${pid}/stat`, 'utf8')),
    main: ticks(readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8')),
  };
}

export async function cleanup() {
  await Promise.all([...children].map((child) => stopProcess(child, 2000).catch(() => {})));
  for (const dir of [...dirs]) removeTempDir(dir);
}
