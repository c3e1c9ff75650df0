import { checkSecretName } from '../contract/names.js';

/**
 * `keybox.manifest.json`: the runtime secrets and non-secret settings an app uses. It holds names, descriptions and
 * rules, never a value, so it is meant to be committed next to the code.
 *
 * @example
 * {
 *   "version": 1,
 *   "items": {
 *     "SMTP_PASSWORD": { "description": "Password of the outgoing mail relay", "settingsKeys": ["smtp.password"] },
 *     "AI_API_KEY": { "envVars": ["AI_API_KEY", "OPENAI_API_KEY"], "pattern": "^sk-[A-Za-z0-9_-]{20,}$" },
 *     "SMTP_HOST": { "secret": false, "required": false, "example": "smtp.example.com" }
 *   }
 * }
 */
export const MANIFEST_FILE = 'keybox.manifest.json';

/** One declared secret or setting, with every default filled in. */
export interface DeclaredItem {
  name: string;
  description: string;
  /** Secrets are never accepted from settings updates (`stripSecrets`) and are what the legacy migration moves. */
  secret: boolean;
  required: boolean;
  /** Variables read directly, first present wins. Default: the item's name. */
  envVars: readonly string[];
  /** `NAME_FILE` for each variable in `envVars`, unless the item says `"file": false`. */
  fileVars: readonly string[];
  /** A regular expression (Unicode mode) every value must match; how it failed is never reported with the value. */
  pattern: string | undefined;
  /** An illustration of the format. Never a real value. */
  example: string | undefined;
  /** Free text: how and how often to rotate. */
  rotation: string | undefined;
  /** Where the item appears in the app's settings payloads: dot paths, `*` matching any one segment. */
  settingsKeys: readonly string[];
}

export interface Manifest {
  version: 1;
  items: readonly DeclaredItem[];
}

/** A problem with a manifest: where (`items.DB_URL.pattern`) and what. Never contains a secret value. */
export interface ManifestIssue {
  at: string;
  message: string;
}

export type ManifestParse = { ok: true; manifest: Manifest } | { ok: false; issues: ManifestIssue[] };

const TOP_KEYS = new Set(['$schema', 'version', 'items']);
const ITEM_KEYS = new Set([
  'description',
  'secret',
  'required',
  'envVars',
  'file',
  'pattern',
  'example',
  'rotation',
  'settingsKeys',
]);

/**
 * Validates a parsed manifest (from JSON or YAML) and fills in the defaults. Collects every issue, not just one.
 *
 * @example
 * const parsed = parseManifest(JSON.parse(text));
 * if (!parsed.ok) for (const issue of parsed.issues) console.error(`${issue.at}: ${issue.message}`);
 */
export function parseManifest(input: unknown): ManifestParse {
  const issues: ManifestIssue[] = [];
  if (!isRecord(input)) return { ok: false, issues: [{ at: '(top level)', message: 'must be an object' }] };
  for (const key of Object.keys(input)) {
    if (!TOP_KEYS.has(key)) issues.push({ at: quoteKey(key), message: 'is not a known field (version, items)' });
  }
  if (input['version'] !== undefined && input['version'] !== 1) {
    issues.push({ at: 'version', message: 'must be 1' });
  }
  const rawItems = input['items'];
  if (!isRecord(rawItems)) {
    issues.push({ at: 'items', message: 'must be an object mapping each name to its declaration' });
    return { ok: false, issues };
  }
  const items: DeclaredItem[] = [];
  for (const [name, raw] of Object.entries(rawItems)) {
    const item = parseItem(name, raw, issues);
    if (item !== undefined) items.push(item);
  }
  checkVariableClashes(items, issues);
  if (issues.length > 0) return { ok: false, issues };
  const manifest: Manifest = Object.freeze({ version: 1, items: Object.freeze(items) });
  validated.add(manifest);
  return { ok: true, manifest };
}

/** Manifests this module built: they need no second validation. */
const validated = new WeakSet<Manifest>();

/** Whether `value` came out of `parseManifest` (and is therefore valid and frozen). */
export function isParsedManifest(value: unknown): value is Manifest {
  return typeof value === 'object' && value !== null && validated.has(value as Manifest);
}

function parseItem(name: string, raw: unknown, issues: ManifestIssue[]): DeclaredItem | undefined {
  const at = `items.${quoteKey(name)}`;
  const nameCheck = checkSecretName(name);
  if (!nameCheck.ok) {
    issues.push({ at, message: 'is not a valid name: use letters, digits and _, not starting with a digit' });
  }
  if (!isRecord(raw)) {
    issues.push({ at, message: 'must be an object (use {} to accept every default)' });
    return undefined;
  }
  const before = issues.length;
  for (const key of Object.keys(raw)) {
    if (!ITEM_KEYS.has(key)) {
      issues.push({ at: `${at}.${quoteKey(key)}`, message: `is not a known field (${[...ITEM_KEYS].join(', ')})` });
    }
  }
  const field = (key: string) => ({ at: `${at}.${key}`, value: raw[key] });
  const description = optionalString(field('description'), issues) ?? '';
  const secret = optionalBoolean(field('secret'), issues) ?? true;
  const required = optionalBoolean(field('required'), issues) ?? true;
  const fileVariants = optionalBoolean(field('file'), issues) ?? true;
  const envVars = nameList(field('envVars'), issues) ?? [name];
  const pattern = optionalString(field('pattern'), issues);
  const example = optionalString(field('example'), issues);
  const rotation = optionalString(field('rotation'), issues);
  const settingsKeys = stringList(field('settingsKeys'), issues) ?? [];
  let regex: RegExp | undefined;
  if (pattern !== undefined) {
    try {
      regex = new RegExp(pattern, 'u');
    } catch {
      issues.push({ at: `${at}.pattern`, message: 'is not a valid regular expression' });
    }
  }
  if (regex !== undefined && example !== undefined && !regex.test(example)) {
    issues.push({ at: `${at}.example`, message: 'does not match the pattern' });
  }
  if (issues.length > before) return undefined;
  return Object.freeze({
    name,
    description,
    secret,
    required,
    envVars: Object.freeze(envVars),
    fileVars: Object.freeze(fileVariants ? envVars.map((v) => `${v}_FILE`) : []),
    pattern,
    example,
    rotation,
    settingsKeys: Object.freeze(settingsKeys),
  });
}

/** A variable may feed one item only: otherwise which item a value belongs to would depend on the manifest's order. */
function checkVariableClashes(items: readonly DeclaredItem[], issues: ManifestIssue[]): void {
  const owner = new Map<string, string>();
  const claim = (item: DeclaredItem, variable: string): boolean => {
    const other = owner.get(variable);
    if (other === undefined || other === item.name) {
      owner.set(variable, item.name);
      return true;
    }
    issues.push({ at: `items.${item.name}`, message: `${variable} already feeds ${other}; a variable feeds one item` });
    return false;
  };
  for (const item of items) {
    item.envVars.forEach((variable, index) => {
      const fileVariable = item.fileVars[index];
      // The _FILE variant of a clashing variable clashes too; one issue says it.
      if (claim(item, variable) && fileVariable !== undefined) claim(item, fileVariable);
    });
  }
}

type Field = { at: string; value: unknown };

function optionalString({ at, value }: Field, issues: ManifestIssue[]): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  issues.push({ at, message: 'must be a string' });
  return undefined;
}

function optionalBoolean({ at, value }: Field, issues: ManifestIssue[]): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'boolean') return value;
  issues.push({ at, message: 'must be true or false' });
  return undefined;
}

function stringList({ at, value }: Field, issues: ManifestIssue[]): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v !== '')) {
    issues.push({ at, message: 'must be a list of non-empty strings' });
    return undefined;
  }
  return [...(value as string[])];
}

function nameList(field: Field, issues: ManifestIssue[]): string[] | undefined {
  const list = stringList(field, issues);
  if (list === undefined) return undefined;
  if (list.length === 0) {
    issues.push({ at: field.at, message: 'must name at least one variable' });
    return undefined;
  }
  for (const variable of list) {
    if (!checkSecretName(variable).ok) {
      issues.push({ at: field.at, message: `"${printable(variable)}" is not a valid environment variable name` });
      return undefined;
    }
  }
  if (new Set(list).size !== list.length) {
    issues.push({ at: field.at, message: 'names a variable twice' });
    return undefined;
  }
  return list;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Keys are shown as they are when they look like names, quoted otherwise. */
function quoteKey(key: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_]*$/.test(key) ? key : JSON.stringify(printable(key));
}

function printable(text: string): string {
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > 80 ? `${clean.slice(0, 77)}...` : clean;
}
