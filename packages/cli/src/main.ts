#!/usr/bin/env node
// The `stageline` command of @stageline/cli (the server package adds `server` to the same program).
import { createProgram, run } from './program.js';

process.exitCode = await run(createProgram());
