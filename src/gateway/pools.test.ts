import { describe, expect, it } from 'vitest';
import type { EgressFor } from '../services/context.js';
import type { UpstreamPool, UpstreamTarget } from './contract.js';
import { UpstreamPools } from './pools.js';

const egress = (key: string) => ({ key }) as EgressFor;
const target = (hostname: string, port = 443): UpstreamTarget => ({ protocol: 'https:', hostname, port, hostHeader: hostname, basePath: '' });

function registry() {
  const closed: string[] = [];
  const admitted: string[] = [];
  const pools = new UpstreamPools(
    (t, admit) => {
      void admit(t.hostname, t.port);
      return { name: t.hostname, close: async () => void closed.push(t.hostname) } as unknown as UpstreamPool;
    },
    async (e, host) => {
      admitted.push(`${e.key}:${host}`);
      return '192.0.2.1';
    },
  );
  return { pools, closed, admitted };
}

describe('UpstreamPools', () => {
  it('makes one pool per egress policy and origin, whatever the base path', () => {
    const { pools, admitted } = registry();
    const a = pools.get(egress('prod'), target('api.example'));
    expect(pools.get(egress('prod'), { ...target('api.example'), basePath: '/v2' })).toBe(a);
    expect(pools.get(egress('dev'), target('api.example'))).not.toBe(a);
    expect(pools.get(egress('prod'), target('api.example', 8443))).not.toBe(a);
    // The connect-time check is the pool's environment's.
    expect(admitted).toEqual(['prod:api.example', 'dev:api.example', 'prod:api.example']);
  });

  it('closes a pool once no table retains it, not before', () => {
    const { pools, closed } = registry();
    const shared = pools.get(egress('prod'), target('shared.example'));
    const old = pools.get(egress('prod'), target('old.example'));
    pools.retain([shared, old]);
    // The next table routes to the shared origin only.
    const next = pools.get(egress('prod'), target('shared.example'));
    pools.retain([next]);
    pools.release([shared, old]);
    expect(closed).toEqual(['old.example']);
    pools.release([next]);
    expect(closed).toEqual(['old.example', 'shared.example']);
    expect(pools.size).toBe(0);
  });

  it('closes the pools a failed build made and never retained', () => {
    const { pools, closed } = registry();
    pools.get(egress('prod'), target('orphan.example'));
    pools.sweep();
    expect(closed).toEqual(['orphan.example']);
  });
});
