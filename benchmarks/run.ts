/**
 * The benchmark: convoy-queue against BullMQ, Bee-Queue and a raw node-redis
 * floor, on one private redis-server this process starts and stops.
 *
 *   npx tsx benchmarks/run.ts            full run (N = 20,000, 3 runs), < 10 min
 *   npx tsx benchmarks/run.ts --quick    ~1 min smoke run for CI (N = 2,000, 1 run)
 *   --libs convoy,raw  --only add-one,latency   run a subset while working on one thing
 *
 * Writes benchmarks/results/latest.{md,json} (quick runs: quick.{md,json}, so a
 * smoke run never overwrites the real numbers). Exits non-zero when any library
 * failed a run: did not process every job, or the dedup check failed.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { startRedisServer } from '../test/helpers/redis-server.js';
import { Admin } from './harness/admin.js';
import { LIBS } from './libs/index.js';
import { buildReport, renderMarkdown, type Meta } from './report.js';
import { runSuite, type Plan, type SuiteResults } from './suite.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    libs: { type: 'string' },
    only: { type: 'string' },
  },
});
const list = (s?: string) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : []);

const libs = args.libs ? LIBS.filter((l) => list(args.libs).includes(l.name)) : LIBS;
const plan: Plan = args.quick
  ? { n: 2_000, runs: 1, warmupN: 0, latencySamples: 100, latencyWarmupSamples: 0, idleMs: 3_000, scheduledJobs: 20_000, rateWindows: 3, libs, only: list(args.only) }
  : { n: 20_000, runs: 3, warmupN: 4_000, latencySamples: 1_000, latencyWarmupSamples: 100, idleMs: 10_000, scheduledJobs: 1_000_000, rateWindows: 8, libs, only: list(args.only) };

function version(pkg: string): string {
  const file = new URL(`../node_modules/${pkg}/package.json`, import.meta.url);
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

/** Which convoy code was measured: src/ changes under the benchmark while people work. */
function commit(): string {
  try {
    const git = (...a: string[]) => execFileSync('git', a, { cwd: new URL('..', import.meta.url), encoding: 'utf8' }).trim();
    return git('rev-parse', '--short', 'HEAD') + (git('status', '--porcelain', '--', 'src') ? ' + uncommitted src/ changes' : '');
  } catch {
    return 'unknown';
  }
}

const started = Date.now();
const server = await startRedisServer();
const admin = await Admin.connect(server.url);
let meta: Meta;
let results: SuiteResults;
try {
  meta = {
    date: new Date().toISOString(),
    mode: args.quick ? 'quick' : 'full',
    node: process.version,
    redis: await admin.redisVersion(),
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    n: plan.n,
    runs: plan.runs,
    commit: commit(),
    loadBefore: loadavg()[0],
    versions: { bullmq: version('bullmq'), 'bee-queue': version('bee-queue'), redis: version('redis'), ioredis: version('ioredis') },
  };
  results = await runSuite(plan, { admin, target: { host: '127.0.0.1', port: server.port, url: server.url }, stallMs: 30_000 });
} finally {
  await admin.close();
  await server.stop();
}

const report = buildReport({ ...meta, loadAfter: loadavg()[0], seconds: (Date.now() - started) / 1000 }, results);
const markdown = renderMarkdown(report);
const dir = new URL('./results/', import.meta.url);
const base = args.quick ? 'quick' : 'latest';
mkdirSync(dir, { recursive: true });
writeFileSync(new URL(`${base}.md`, dir), markdown);
writeFileSync(new URL(`${base}.json`, dir), JSON.stringify(report, null, 2) + '\n');
process.stdout.write(`\n${markdown}`);
process.stderr.write(`[bench] wrote benchmarks/results/${base}.md and ${base}.json\n`);

// Everything above closes its connections; anything still open a moment later (handle
// close callbacks run a loop turn after 'exit'/'close' events) is a leak worth knowing about.
await new Promise((resolve) => setTimeout(resolve, 50));
const leftover = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap' && r !== 'PipeWrap');
if (leftover.length) process.stderr.write(`[bench] still open at exit: ${leftover.join(', ')}\n`);
// The results are written: do not let a library's stray timer or socket keep the process alive.
process.exit(report.errors.length ? 1 : 0);
