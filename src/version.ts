// The package's version, read from package.json when the process starts: the file is one
// directory up both from src/ (tsx) and from dist/ (the build), so the same path serves both.
import { readFileSync } from 'node:fs';

export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
