/**
 * Run one scenario for one library, with nothing else in the process, to
 * profile it. Either the whole process:
 *
 *   node --cpu-prof --cpu-prof-dir benchmarks/results --import tsx \
 *     benchmarks/profile.ts process-c32 [--lib convoy] [--n 20000] [--runs 3]
 *
 * or only the timed part of each run (no setup such as pre-adding jobs), one
 * profile per run in benchmarks/results/:
 *
 *   npx tsx benchmarks/profile.ts process-c32 --timed-only
 *
 * then `npx tsx benchmarks/profile-top.ts` for the top self time.
 * Scenario keys: those of the throughput table, and 'latency'.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { parseArgs } from 'node:util';
import { startRedisServer } from '../test/helpers/redis-server.js';
import { Admin } from './harness/admin.js';
import { LIBS } from './libs/index.js';
import type { Ctx } from './harness/session.js';
import { THROUGHPUT, latency } from './scenarios.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    lib: { type: 'string', default: 'convoy' },
    n: { type: 'string', default: '20000' },
    runs: { type: 'string', default: '3' },
    'timed-only': { type: 'boolean', default: false },
  },
});
const key = positionals[0] ?? 'process-c32';
const lib = LIBS.find((l) => l.name === values.lib);
const scenario = THROUGHPUT.find((s) => s.key === key);
if (!lib || (!scenario && key !== 'latency')) {
  process.stderr.write(`usage: profile.ts <${[...THROUGHPUT.map((s) => s.key), 'latency'].join('|')}> [--lib ${LIBS.map((l) => l.name).join('|')}]\n`);
  process.exit(2);
}
if (scenario?.needs && !lib.features.includes(scenario.needs)) {
  process.stderr.write(`${lib.name} has no '${scenario.needs}': scenario ${key} leaves it out\n`);
  process.exit(2);
}
const n = Number(values.n);

/** Profiles the timed part of each run through the inspector, into its own file. */
function timedProbe(session: Session): NonNullable<Ctx['probe']> {
  let run = 0;
  return {
    start: async () => {
      await session.post('Profiler.start');
    },
    stop: async () => {
      const { profile } = await session.post('Profiler.stop');
      const file = new URL(`./results/${lib!.name}-${key}-${Date.now()}-${++run}.cpuprofile`, import.meta.url);
      writeFileSync(file, JSON.stringify(profile));
    },
  };
}

let session: Session | undefined;
if (values['timed-only']) {
  session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
}

const server = await startRedisServer();
const admin = await Admin.connect(server.url);
const target = { host: '127.0.0.1', port: server.port, url: server.url };
const ctx: Ctx = { admin, target, stallMs: 30_000, ...(session ? { probe: timedProbe(session) } : {}) };
try {
  for (let i = 1; i <= Number(values.runs); i++) {
    if (scenario) {
      const r = await scenario.run(lib, ctx, n);
      process.stderr.write(`${lib.name} ${key} run ${i}: ${Math.round(r.jobs / r.seconds)} jobs/s, ${(r.commands / r.jobs).toFixed(2)} commands/job\n`);
    } else {
      const r = await latency(lib, ctx, n);
      process.stderr.write(`${lib.name} latency run ${i}: p50 ${r.p50.toFixed(3)} ms, p99 ${r.p99.toFixed(3)} ms\n`);
    }
  }
} finally {
  session?.disconnect();
  await admin.close();
  await server.stop();
}
