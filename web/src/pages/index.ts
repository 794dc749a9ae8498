// Every page of the dashboard: its path under /w/:ws/:env/, its place in the navigation, and
// its lazily loaded module (each page is its own chunk, so the first load stays small).
import { lazy, type ComponentType, type LazyExoticComponent } from 'react';

export interface PageDef {
  path: string;
  Component: LazyExoticComponent<ComponentType>;
}

export interface NavItem {
  label: string;
  path: string;
}

export const pages: PageDef[] = [
  { path: 'environments', Component: lazy(() => import('./envs/Environments')) },
  { path: 'matrix', Component: lazy(() => import('./envs/Matrix')) },
  { path: 'resources', Component: lazy(() => import('./resources/Resources')) },
  { path: 'resources/:kind/:key', Component: lazy(() => import('./resources/Resource')) },
  { path: 'changes', Component: lazy(() => import('./resources/Changes')) },
  { path: 'promote', Component: lazy(() => import('./releases/Promote')) },
  { path: 'requests', Component: lazy(() => import('./releases/Requests')) },
  { path: 'requests/:id', Component: lazy(() => import('./releases/Request')) },
  { path: 'releases', Component: lazy(() => import('./releases/Releases')) },
  { path: 'releases/:number', Component: lazy(() => import('./releases/Release')) },
  { path: 'variables', Component: lazy(() => import('./config/Variables')) },
  { path: 'secrets', Component: lazy(() => import('./config/Secrets')) },
  { path: 'settings', Component: lazy(() => import('./config/Settings')) },
  { path: 'api-keys', Component: lazy(() => import('./config/ApiKeys')) },
  { path: 'members', Component: lazy(() => import('./config/Members')) },
  { path: 'tokens', Component: lazy(() => import('./config/Tokens')) },
  { path: 'monitoring', Component: lazy(() => import('./ops/Monitoring')) },
  { path: 'alerts', Component: lazy(() => import('./ops/Alerts')) },
  { path: 'data', Component: lazy(() => import('./ops/Data')) },
  { path: 'preferences', Component: lazy(() => import('./ops/Preferences')) },
  { path: 'activity', Component: lazy(() => import('./ops/Activity')) },
  { path: 'audit', Component: lazy(() => import('./ops/Audit')) },
];

export const navigation: { group: string; items: NavItem[] }[] = [
  {
    group: 'Build',
    items: [
      { label: 'Resources', path: 'resources' },
      { label: 'Changes', path: 'changes' },
    ],
  },
  {
    group: 'Ship',
    items: [
      { label: 'Promote', path: 'promote' },
      { label: 'Requests', path: 'requests' },
      { label: 'Releases', path: 'releases' },
    ],
  },
  {
    group: 'Environments',
    items: [
      { label: 'Environments', path: 'environments' },
      { label: 'What runs where', path: 'matrix' },
    ],
  },
  {
    group: 'Configure',
    items: [
      { label: 'Variables', path: 'variables' },
      { label: 'Secrets', path: 'secrets' },
      { label: 'Settings', path: 'settings' },
      { label: 'API keys', path: 'api-keys' },
    ],
  },
  {
    group: 'People',
    items: [
      { label: 'Members', path: 'members' },
      { label: 'Service tokens', path: 'tokens' },
    ],
  },
  {
    group: 'Observe',
    items: [
      { label: 'Monitoring', path: 'monitoring' },
      { label: 'Alerts', path: 'alerts' },
      { label: 'Data', path: 'data' },
      { label: 'Preferences', path: 'preferences' },
      { label: 'Activity', path: 'activity' },
      { label: 'Audit log', path: 'audit' },
    ],
  },
];
