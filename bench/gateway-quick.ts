// A quick local check of the gateway's hot path (not the benchmark of record): wrk against an
// nginx upstream directly, nginx as a proxy, and the Stageline gateway with a routing-only route
// and with a "full" route (an injected secret, a limit, 1,000 CIDRs and a canary).
//   npx tsx bench/gateway-quick.ts        (needs nginx and wrk on the PATH)
// Compare ratios, not req/s: the load generator, the upstream and the proxy share the machine.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Child, freePort, HttpClient, sleep } from './delivery-support.js';
import { Cleanup, cleanUpOnInterrupt, log, median, runMain } from './support.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 6);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
/** Which variants run: BENCH_ONLY=full runs only the full route (with BENCH_PROFILE, to profile it). */
const ONLY = process.env.BENCH_ONLY;
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const TOKEN = 'gateway-quick-bench-token-0123456789';
const MASTER_KEY = Buffer.alloc(32, 3).toString('base64');
const BODY = JSON.stringify({ data: 'x'.repeat(480) });

function nginxConfig(dir: string, upstreamPort: number, proxyPort: number): string {
  const file = join(dir, 'nginx.conf');
  writeFileSync(
    file,
    `worker_processes 1; daemon off; pid ${dir}/nginx.pid; error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off; keepalive_requests 1000000;
  upstream backend { server 127.0.0.1:${upstreamPort}; keepalive 64; }
  server { listen 127.0.0.1:${upstreamPort}; location / { default_type application/json; return 200 '${BODY}'; } }
  server { listen 127.0.0.1:${proxyPort};
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header X-Added yes; } }
}
`,
  );
  return file;
}

function wrk(url: string, headers: string[] = []): number {
  const args = ['-t1', `-c${CONNECTIONS}`, `-d${SECONDS}s`, ...headers.flatMap((h) => ['-H', h]), url];
  const out = spawnSync('wrk', args, { encoding: 'utf8' });
  const match = /Requests\/sec:\s+([\d.]+)/.exec(out.stdout);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out.stdout);
  if (!match) throw new Error(`wrk failed: ${out.stderr || out.stdout}`);
  if (non2xx) throw new Error(`wrk saw ${non2xx[1]} non-2xx answers from ${url}`);
  return Number(match[1]);
}

async function main(): Promise<number> {
  const cleanup = new Cleanup();
  cleanUpOnInterrupt(cleanup);
  try {
    const dir = mkdtempSync(join(tmpdir(), 'stageline-gw-bench-'));
    const [upstreamPort, proxyPort, apiPort, gatewayPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const nginx = Child.start('nginx', cleanup, 'nginx', ['-c', nginxConfig(dir, upstreamPort, proxyPort), '-p', dir], {});
    await sleep(300);
    // BENCH_PROFILE=dir writes a CPU profile of the node there.
    const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
    const node = Child.start('stageline', cleanup, process.execPath, [...profile, '--import', 'tsx', 'src/cli/main.ts', 'server'], {
      STAGELINE_PORT: String(apiPort),
      STAGELINE_GATEWAY_PORT: String(gatewayPort),
      STAGELINE_HOST: '127.0.0.1',
      STAGELINE_DATA_DIR: join(dir, 'data'),
      STAGELINE_BOOTSTRAP_TOKEN: TOKEN,
      STAGELINE_MASTER_KEY: MASTER_KEY,
      STAGELINE_LOG_LEVEL: 'warn',
      STAGELINE_GATEWAY_DEFAULT_ENV: 'development',
      STAGELINE_TRUSTED_PROXIES: '127.0.0.1',
    });
    await node.waitForHttp(`http://127.0.0.1:${apiPort}/healthz`);
    const api = new HttpClient(`http://127.0.0.1:${apiPort}`, TOKEN);
    const ws = '/api/workspaces/default/environments/development';
    const upstream = `http://127.0.0.1:${upstreamPort}`;
    const clients = Array.from({ length: 999 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`).concat('127.0.0.0/8');
    await api.call('PUT', `${ws}/secrets/token`, { value: 'sk_bench_0123456789' });
    await api.call('PUT', `${ws}/resources/route/plain`, { content: { match: { pathPrefix: '/plain' }, upstream: { url: upstream }, injectHeaders: { 'X-Added': 'yes' } } });
    await api.call('PUT', `${ws}/resources/route/full`, {
      content: {
        match: { pathPrefix: '/full' },
        upstream: { url: upstream },
        injectHeaders: { Authorization: 'Bearer {{ secrets.token }}' },
        rateLimit: { requests: 1_000_000_000, windowSec: 60 },
        clients,
        split: { canary: { url: upstream, weight: 10 } },
      },
    });
    await api.call('POST', `${ws}/commits`, { message: 'bench' });
    api.close();
    const gateway = `http://127.0.0.1:${gatewayPort}`;
    wrk(`${gateway}/plain`);
    wrk(`${gateway}/full`);

    const samples: Record<string, number[]> = { direct: [], nginx: [], plain: [], full: [] };
    if (ONLY) {
      log(`${ONLY}: ${wrk(`${gateway}/${ONLY}`).toFixed(0)} req/s`);
      return 0;
    }
    for (let round = 0; round < ROUNDS; round++) {
      samples.direct!.push(wrk(`${upstream}/`));
      samples.nginx!.push(wrk(`http://127.0.0.1:${proxyPort}/`));
      samples.plain!.push(wrk(`${gateway}/plain`));
      samples.full!.push(wrk(`${gateway}/full`));
    }
    const m = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)])) as Record<string, number>;
    log(`upstream directly     ${m.direct!.toFixed(0)} req/s`);
    log(`nginx as proxy        ${m.nginx!.toFixed(0)} req/s`);
    log(`gateway, routing only ${m.plain!.toFixed(0)} req/s  (${(m.plain! / m.nginx!).toFixed(2)} × nginx; G1 wants ≥ 0.35)`);
    log(`gateway, full route   ${m.full!.toFixed(0)} req/s  (${(m.full! / m.plain!).toFixed(2)} × routing only; wants ≥ 0.8)`);
    if (!nginx.running) throw new Error(`nginx exited:\n${nginx.tail()}`);
    return 0;
  } finally {
    await cleanup.runAll();
  }
}

runMain(main);
