import type { InjectedSecret, MergedSecret } from '@keybox/sdk';

/**
 * Variables a secret never overwrites: the process's identity and the shell's plumbing, and Keybox's own bootstrap
 * variables (a secret that redirected KEYBOX_ADDR would send the child's SDK elsewhere).
 */
export const RESERVED_NAMES = new Set([
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'PWD',
  'OLDPWD',
  'SHLVL',
  'TERM',
  'TERMINFO',
  'TMPDIR',
  'HOSTNAME',
  'MAIL',
  'EDITOR',
  'DISPLAY',
  'XAUTHORITY',
  'PS1',
  'PS2',
  '_',
  'SECRETS_API_URL',
  'SECRETS_API_TOKEN',
]);
const RESERVED_PREFIXES = ['KEYBOX_', 'XDG_', 'LC_'];

/**
 * Variables that change how the child's runtime loads code. Someone who can write a secret should not be able to
 * run code on every host that starts the app, so these are injected only when named in `--allow-dangerous`.
 */
export const DANGEROUS_NAMES = new Set([
  'LD_PRELOAD',
  'LD_LIBRARY_PATH',
  'LD_AUDIT',
  'GCONV_PATH',
  'GLIBC_TUNABLES',
  'DYLD_INSERT_LIBRARIES',
  'DYLD_LIBRARY_PATH',
  'NODE_OPTIONS',
  'NODE_PATH',
  'PYTHONPATH',
  'PYTHONSTARTUP',
  'PYTHONWARNINGS',
  'PERL5OPT',
  'PERL5LIB',
  'RUBYOPT',
  'RUBYLIB',
  'JAVA_TOOL_OPTIONS',
  '_JAVA_OPTIONS',
  'BASH_ENV',
  'ENV',
  'PROMPT_COMMAND',
  'IFS',
  'PHPRC',
  'GIT_SSH_COMMAND',
  'BROWSER',
]);

export function isReserved(name: string): boolean {
  return RESERVED_NAMES.has(name) || RESERVED_PREFIXES.some((p) => name.startsWith(p));
}

/** Keybox's own credentials: the child gets its secrets, not the key to all of them (unless --pass-credentials). */
export const CREDENTIAL_NAMES = [
  'KEYBOX_TOKEN',
  'KEYBOX_TOKEN_FILE',
  'SECRETS_API_TOKEN',
  'KEYBOX_CLIENT_SECRET',
  'KEYBOX_CLIENT_SECRET_FILE',
] as const;

export interface ChildEnvOptions {
  /** Keep Keybox's credentials in the child's environment. */
  passCredentials?: boolean;
  /** `--preserve-env`: `'all'` keeps every inherited variable; a set keeps those names. */
  preserve: 'all' | ReadonlySet<string> | undefined;
  allowDangerous: ReadonlySet<string>;
}

export interface ChildEnv {
  env: Record<string, string>;
  injected: Record<string, InjectedSecret>;
  /** Reserved names present in the store and left alone. */
  reserved: string[];
  /** Dangerous names present in the store and not allowed. */
  blocked: string[];
  /** Names kept from the inherited environment because of --preserve-env. */
  preserved: string[];
}

/** The child's environment: the inherited one, with secrets laid over it (Keybox is the source of truth). */
export function buildChildEnv(
  inherited: NodeJS.ProcessEnv,
  secrets: ReadonlyMap<string, MergedSecret>,
  options: ChildEnvOptions,
): ChildEnv {
  // No prototype: `__proto__` is a valid variable name and must land in the environment like any other.
  const env: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [key, value] of Object.entries(inherited)) if (value !== undefined) env[key] = value;
  if (options.passCredentials !== true) for (const name of CREDENTIAL_NAMES) delete env[name];
  const injected = Object.create(null) as Record<string, InjectedSecret>;
  const result: ChildEnv = { env, injected, reserved: [], blocked: [], preserved: [] };
  for (const [name, secret] of secrets) {
    if (isReserved(name)) {
      result.reserved.push(name);
      continue;
    }
    if (DANGEROUS_NAMES.has(name) && !options.allowDangerous.has(name)) {
      result.blocked.push(name);
      continue;
    }
    const keep = options.preserve === 'all' || options.preserve?.has(name) === true;
    if (keep && inherited[name] !== undefined) {
      result.preserved.push(name);
      continue;
    }
    env[name] = secret.value;
    result.injected[name] = { path: secret.path, version: secret.version };
  }
  return result;
}

/** Linux refuses a single `NAME=value` string over 128 KiB (MAX_ARG_STRLEN) at exec time. */
export const MAX_ENV_STRING = 128 * 1024 - 1;
