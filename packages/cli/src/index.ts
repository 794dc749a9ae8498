// The CLI as a library: the server package builds its `stageline` command on this program, so one
// binary knows every command.
export { createProgram, run, action, examples, type Register } from './program.js';
export { CliError, EXIT, usageError } from './errors.js';
export { resolveContext, contextOf, type Context, type GlobalOptions } from './context.js';
export { Output } from './output.js';
