import type { PolicyRule } from './policy-rules.js';

/** Policies every store has; they cannot be edited or deleted. */
export const BUILTIN_POLICIES: Record<string, { description: string; rules: PolicyRule[] }> = {
  admin: {
    description: 'everything, everywhere',
    rules: [
      {
        effect: 'allow',
        projects: ['*'],
        environments: ['*'],
        paths: ['/**'],
        capabilities: ['read', 'list', 'write', 'delete', 'admin'],
      },
    ],
  },
  developer: {
    description: 'read and change secrets in every project, except writes and deletes in prod',
    rules: [
      {
        effect: 'allow',
        projects: ['*'],
        environments: ['*'],
        paths: ['/**'],
        capabilities: ['read', 'list', 'write', 'delete'],
      },
      { effect: 'deny', projects: ['*'], environments: ['prod'], paths: ['/**'], capabilities: ['write', 'delete'] },
    ],
  },
};

/** Role templates: a concrete policy is made from one by naming its scope. */
export const ROLE_TEMPLATES: Record<
  string,
  { description: string; rules: (scope: { project: string; env: string; path: string }) => PolicyRule[] }
> = {
  'ci-reader': {
    description: 'read (and list) the secrets of one folder and its sub-folders',
    rules: ({ project, env, path }) => [
      {
        effect: 'allow',
        projects: [project],
        environments: [env],
        paths: [path === '/' ? '/**' : `${path}/**`],
        capabilities: ['read', 'list'],
      },
    ],
  },
  'project-admin': {
    description: 'everything in one project',
    rules: ({ project }) => [
      {
        effect: 'allow',
        projects: [project],
        environments: ['*'],
        paths: ['/**'],
        capabilities: ['read', 'list', 'write', 'delete', 'admin'],
      },
    ],
  },
};
