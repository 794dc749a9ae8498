// `stageline/client`: the SDK, re-exported from its own package (@stageline/client) so that
// applications can install it alone, without the server's dependencies.
export * from '@stageline/client';
