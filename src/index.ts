export { startServer, type RunningServer } from './server.js';
export { loadConfig, type Config } from './config.js';
export { buildApp } from './http/app.js';
export { openStore } from './store/database.js';
