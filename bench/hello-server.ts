// The baseline of the delivery benchmark (R1): plain Fastify 5 with one route answering a fixed
// JSON string, the same bytes as the Stageline resource it is compared with. Run as a child:
//   BENCH_PORT=… BENCH_PATH=/v1/resources/config/… BENCH_BODY_FILE=body.json node --import tsx bench/hello-server.ts
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';

const port = Number(process.env.BENCH_PORT);
const path = process.env.BENCH_PATH ?? '/';
const file = process.env.BENCH_BODY_FILE;
if (!Number.isInteger(port) || port <= 0 || !file) {
  process.stderr.write('hello-server: set BENCH_PORT and BENCH_BODY_FILE\n');
  process.exit(2);
}
const body = readFileSync(file, 'utf8');

const app = Fastify({ logger: false });
app.get(path, (_request, reply) => {
  void reply.type('application/json').send(body);
});

const stop = () => {
  app.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);

await app.listen({ port, host: '127.0.0.1' });
