import { describe, expect, it } from 'vitest';
import { BUILTIN_POLICIES, ROLE_TEMPLATES } from './builtin-policies.js';
import { canSeeProject, compilePolicy, decide, mayReachBelow, type AccessRequest } from './policy-engine.js';
import type { Capability, PolicyRule } from './policy-rules.js';

const ALL: Capability[] = ['read', 'list', 'write', 'delete', 'admin'];

function rule(partial: Partial<PolicyRule> & Pick<PolicyRule, 'capabilities'>): PolicyRule {
  return { effect: 'allow', projects: ['shop'], environments: ['*'], paths: ['/**'], ...partial };
}

function policies(...rules: PolicyRule[]) {
  return [compilePolicy('p', rules)];
}

const builtin = (name: string) => {
  const policy = BUILTIN_POLICIES[name];
  if (policy === undefined) throw new Error(`no builtin ${name}`);
  return compilePolicy(name, policy.rules);
};

const allowed = (p: ReturnType<typeof policies>, request: AccessRequest) => decide(p, request).allowed;

describe('decide', () => {
  it('denies what no rule allows, and says so', () => {
    expect(decide([], { capability: 'read', project: 'shop', env: 'dev', path: '/' })).toEqual({
      allowed: false,
      reason: 'no-rule',
    });
  });

  it('treats each capability separately: read does not give list, write does not give delete', () => {
    const reader = policies(rule({ capabilities: ['read'] }));
    const scope = { project: 'shop', env: 'dev', path: '/a' };
    expect(allowed(reader, { capability: 'read', ...scope })).toBe(true);
    expect(allowed(reader, { capability: 'list', ...scope })).toBe(false);
    const writer = policies(rule({ capabilities: ['write'] }));
    expect(allowed(writer, { capability: 'delete', ...scope })).toBe(false);
  });

  it('lets an explicit deny in any policy win over allows in others', () => {
    const set = [
      builtin('admin'),
      ...policies(rule({ effect: 'deny', environments: ['prod'], capabilities: ['read'] })),
    ];
    expect(decide(set, { capability: 'read', project: 'shop', env: 'prod', path: '/x' })).toEqual({
      allowed: false,
      reason: 'denied',
    });
    expect(allowed(set, { capability: 'read', project: 'shop', env: 'dev', path: '/x' })).toBe(true);
  });

  it('gives the developer policy everything but writes and deletes in prod, and no admin', () => {
    const dev = [builtin('developer')];
    const prod = { project: 'any', env: 'prod', path: '/deep/folder' };
    expect(allowed(dev, { capability: 'read', ...prod })).toBe(true);
    expect(allowed(dev, { capability: 'write', ...prod })).toBe(false);
    expect(allowed(dev, { capability: 'delete', ...prod })).toBe(false);
    expect(allowed(dev, { capability: 'write', ...prod, env: 'staging' })).toBe(true);
    expect(allowed(dev, { capability: 'admin', project: 'any' })).toBe(false);
    expect(allowed(dev, { capability: 'admin' })).toBe(false);
  });

  it('matches projects, environments and folders by name, * and glob', () => {
    const p = policies(
      rule({ environments: ['dev', 'qa'], paths: ['/backend/**', '/shared'], capabilities: ['read'] }),
    );
    const read = (project: string, env: string, path: string) => allowed(p, { capability: 'read', project, env, path });
    expect(read('shop', 'qa', '/backend/workers')).toBe(true);
    expect(read('shop', 'dev', '/shared')).toBe(true);
    expect(read('shop', 'dev', '/shared/sub')).toBe(false);
    expect(read('shop', 'prod', '/backend')).toBe(false);
    expect(read('shopx', 'dev', '/backend')).toBe(false);
    expect(read('shop', 'dev', '/backendx')).toBe(false);
  });

  it('keeps system-wide requests (no project) for rules on project *', () => {
    expect(allowed(policies(rule({ capabilities: ALL })), { capability: 'admin' })).toBe(false);
    expect(allowed([builtin('admin')], { capability: 'admin' })).toBe(true);
  });

  it('refuses system-wide admin to a rule on project * that is limited to some environments or folders', () => {
    const envOnly = policies(rule({ projects: ['*'], environments: ['staging'], capabilities: ['admin'] }));
    const folderOnly = policies(rule({ projects: ['*'], paths: ['/ops/**'], capabilities: ['admin'] }));
    expect(allowed(envOnly, { capability: 'admin' }), 'staging-only admin became system admin').toBe(false);
    expect(allowed(folderOnly, { capability: 'admin' }), '/ops-only admin became system admin').toBe(false);
  });

  it('refuses a project-wide request to a rule limited to one environment', () => {
    const staging = policies(rule({ environments: ['staging'], capabilities: ALL }));
    expect(allowed(staging, { capability: 'admin', project: 'shop', env: 'staging' })).toBe(true);
    expect(allowed(staging, { capability: 'admin', project: 'shop' }), 'staging admin may delete all of shop').toBe(
      false,
    );
  });

  it('refuses an environment-wide request to a rule limited to one folder', () => {
    const frontend = policies(rule({ environments: ['dev'], paths: ['/frontend/**'], capabilities: ALL }));
    expect(allowed(frontend, { capability: 'delete', project: 'shop', env: 'dev', path: '/frontend/x' })).toBe(true);
    expect(allowed(frontend, { capability: 'admin', project: 'shop', env: 'dev' }), '/frontend admin owns dev').toBe(
      false,
    );
  });

  it('still lets a narrow deny refuse a wider request', () => {
    const set = [
      builtin('admin'),
      ...policies(rule({ effect: 'deny', environments: ['prod'], capabilities: ['admin'] })),
    ];
    expect(allowed(set, { capability: 'admin', project: 'shop' })).toBe(false);
    expect(allowed(set, { capability: 'admin', project: 'shop', env: 'dev' })).toBe(true);
  });
});

describe('canSeeProject', () => {
  it('sees a project named by an allow rule or by *, never through a deny-only rule', () => {
    expect(canSeeProject(policies(rule({ capabilities: ['list'] })), 'shop')).toBe(true);
    expect(canSeeProject(policies(rule({ capabilities: ['list'] })), 'other')).toBe(false);
    expect(canSeeProject([builtin('admin')], 'other')).toBe(true);
    expect(canSeeProject(policies(rule({ effect: 'deny', capabilities: ALL })), 'shop')).toBe(false);
  });
});

describe('mayReachBelow', () => {
  const request = (path: string, capability: Capability = 'read') => ({
    capability,
    project: 'shop',
    env: 'dev',
    path,
  });

  it('reaches a folder allowed somewhere below the asked one, not beside or above a different branch', () => {
    const p = policies(rule({ paths: ['/backend/workers/**'], capabilities: ['read'] }));
    expect(mayReachBelow(p, request('/'))).toBe(true);
    expect(mayReachBelow(p, request('/backend'))).toBe(true);
    expect(mayReachBelow(p, request('/frontend'))).toBe(false);
    expect(mayReachBelow(p, request('/backend', 'list'))).toBe(false);
  });

  it('does not reach into another environment or project', () => {
    const p = policies(rule({ environments: ['dev'], paths: ['/a'], capabilities: ['read'] }));
    expect(mayReachBelow(p, request('/'))).toBe(true);
    expect(mayReachBelow(p, { ...request('/'), env: 'prod' })).toBe(false);
    expect(mayReachBelow(p, { ...request('/'), project: 'other' })).toBe(false);
  });

  it('does not count deny rules as reach', () => {
    expect(mayReachBelow(policies(rule({ effect: 'deny', capabilities: ['read'] })), request('/'))).toBe(false);
  });
});

describe('role templates', () => {
  it('makes ci-reader read and list one folder and below, in one project and environment only', () => {
    const template = ROLE_TEMPLATES['ci-reader'];
    if (template === undefined) throw new Error('no ci-reader role');
    const p = [compilePolicy('ci', template.rules({ project: 'shop', env: 'prod', path: '/api' }))];
    expect(allowed(p, { capability: 'read', project: 'shop', env: 'prod', path: '/api/v2' })).toBe(true);
    expect(allowed(p, { capability: 'list', project: 'shop', env: 'prod', path: '/api' })).toBe(true);
    expect(allowed(p, { capability: 'read', project: 'shop', env: 'prod', path: '/' })).toBe(false);
    expect(allowed(p, { capability: 'read', project: 'shop', env: 'dev', path: '/api' })).toBe(false);
    expect(allowed(p, { capability: 'write', project: 'shop', env: 'prod', path: '/api' })).toBe(false);
  });
});
