import type { ReactNode } from 'react';
import type { Environment } from '../api/queries';
import { colorOf, isProduction } from '../context';

export type BadgeTone = 'neutral' | 'info' | 'success' | 'warning' | 'danger';

export function Badge({ tone = 'neutral', children, title }: { tone?: BadgeTone; children: ReactNode; title?: string }) {
  return (
    <span className={`badge badge-${tone}`} title={title}>
      {children}
    </span>
  );
}

/** An environment's colour and name; production says so in words as well as in red. */
export function EnvBadge({ environment, environments, slug }: { environment: Environment | undefined; environments: Environment[]; slug?: string }) {
  const production = isProduction(environment, environments);
  return (
    <span className={`env-badge${production ? ' env-badge-production' : ''}`}>
      <span className="env-dot" style={{ backgroundColor: colorOf(environment, environments) }} aria-hidden="true" />
      <span className="env-name">{environment?.name ?? slug ?? '—'}</span>
      {production ? <span className="env-prod-tag">production</span> : null}
    </span>
  );
}
