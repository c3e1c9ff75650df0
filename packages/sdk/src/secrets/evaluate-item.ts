import type { DeclaredItem } from '../manifest/parse-manifest.js';
import type { InjectedManifest } from '../resolve/injected.js';
import type { KeyboxBundle } from './keybox-source.js';
import { resolveLocal, type EnvLike, type Found, type ReadFile } from './resolve-local.js';
import type { ItemStatus, Problem } from './status-types.js';

export interface EvaluationInputs {
  env: EnvLike;
  readFile: ReadFile;
  injected: InjectedManifest | undefined;
  bundle: KeyboxBundle | undefined;
  /** Secret values still in the legacy store, by item name; undefined when there is no legacy source. */
  legacy: ReadonlyMap<string, string> | undefined;
  legacyLabel: string;
}

export interface Evaluation {
  item: DeclaredItem;
  /** The value the app gets. */
  found: Found | undefined;
  /** What supplies the item apart from the legacy store: what the cleanup needs before it clears a legacy value. */
  replacement: Found | undefined;
  /** Whether `replacement` passes the item's pattern. */
  replacementValid: boolean;
  legacyStored: boolean;
  problems: Problem[];
}

/**
 * Resolves one item: environment (direct variables, then `_FILE`), then the Keybox bundle, then, for secrets, the
 * legacy store. Problems describe the outcome in words that never include the value.
 */
export function evaluateItem(item: DeclaredItem, inputs: EvaluationInputs): Evaluation {
  const local = resolveLocal(item, inputs.env, inputs.readFile, inputs.injected);
  const problems = [...local.problems];
  const replacement = local.found ?? fromBundle(item, inputs.bundle);
  const legacyValue = item.secret ? inputs.legacy?.get(item.name) : undefined;
  const found = replacement ?? (legacyValue === undefined ? undefined : { value: legacyValue, source: 'legacy' });
  const replacementValid = replacement !== undefined && matches(item, replacement.value);

  if (found === undefined) {
    if (item.required) {
      problems.push({
        code: 'MISSING',
        level: 'error',
        message: `required, and no source has it: set ${oneOf([...item.envVars, ...item.fileVars])}`,
      });
    }
  } else if (!matches(item, found.value)) {
    problems.push({
      code: 'INVALID_FORMAT',
      level: 'error',
      message: `the value from ${describe(found, inputs.legacyLabel)} does not match the declared pattern`,
    });
  }
  if (legacyValue !== undefined) {
    problems.push(
      replacement === undefined
        ? {
            code: 'LEGACY_SOURCE',
            level: 'warning',
            message: `served from ${inputs.legacyLabel}: provide ${oneOf([...item.envVars, ...item.fileVars])}, then run the legacy cleanup`,
          }
        : {
            code: 'LEGACY_RESIDUE',
            level: 'warning',
            message: `${describe(replacement, inputs.legacyLabel)} supplies it, but a value is still stored in ${inputs.legacyLabel}: run the legacy cleanup`,
          },
    );
  }
  return { item, found, replacement, replacementValid, legacyStored: legacyValue !== undefined, problems };
}

/** The public view of an evaluation. Built field by field so that nothing holding the value can slip in. */
export function toItemStatus(evaluation: Evaluation): ItemStatus {
  const { item, found } = evaluation;
  const origin = found?.keybox;
  return {
    name: item.name,
    description: item.description,
    secret: item.secret,
    required: item.required,
    present: found !== undefined,
    source: found?.source ?? 'missing',
    envVars: [...item.envVars, ...item.fileVars],
    ...(found?.variable === undefined ? {} : { variable: found.variable }),
    ...(found?.file === undefined ? {} : { file: found.file }),
    ...(origin === undefined
      ? {}
      : {
          keybox: {
            via: origin.via,
            project: origin.project,
            env: origin.env,
            path: origin.path,
            version: origin.version,
          },
        }),
    ...(item.rotation === undefined ? {} : { rotation: item.rotation }),
    problems: evaluation.problems.map((p) => ({ code: p.code, level: p.level, message: p.message })),
  };
}

function fromBundle(item: DeclaredItem, bundle: KeyboxBundle | undefined): Found | undefined {
  if (bundle === undefined) return undefined;
  for (const variable of item.envVars) {
    const secret = bundle.secrets.get(variable);
    if (secret === undefined || secret.value === '') continue;
    return {
      value: secret.value,
      source: 'keybox',
      variable,
      keybox: { via: 'server', project: bundle.project, env: bundle.env, path: secret.path, version: secret.version },
    };
  }
  return undefined;
}

const compiled = new WeakMap<DeclaredItem, RegExp>();

function matches(item: DeclaredItem, value: string): boolean {
  if (item.pattern === undefined) return true;
  let regex = compiled.get(item);
  if (regex === undefined) {
    regex = new RegExp(item.pattern, 'u');
    compiled.set(item, regex);
  }
  return regex.test(value);
}

function describe(found: Found, legacyLabel: string): string {
  switch (found.source) {
    case 'env':
      return found.variable ?? 'the environment';
    case 'file':
      return `the file named by ${found.variable ?? 'its _FILE variable'}`;
    case 'keybox':
      return `Keybox (${found.variable ?? ''} in ${found.keybox?.path ?? '/'})`;
    case 'legacy':
      return legacyLabel;
  }
}

function oneOf(names: readonly string[]): string {
  if (names.length <= 1) return names.join('');
  return `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
}
