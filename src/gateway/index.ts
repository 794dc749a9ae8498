// The gateway: an environment-aware reverse proxy on its own port (DESIGN.md "Gateway").
export { startGateway, DEFAULT_BODY_LIMIT, type GatewayOptions, type RunningGateway } from './server.js';
export { startGatewayWorkers, type GatewayWorkers } from './workers.js';
export type { GatewayObserver, GatewayRequestEvent } from './contract.js';
