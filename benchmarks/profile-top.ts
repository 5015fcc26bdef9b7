/**
 * Summarise V8 .cpuprofiles by self time: the functions the CPU was actually
 * in, overall and within convoy's own code (src/).
 *
 *   npx tsx benchmarks/profile-top.ts [file.cpuprofile ...] [--top 15]
 * Several files are added up (profile.ts --timed-only writes one per run).
 * Without files, reads the newest --cpu-prof profile in benchmarks/results/.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '15' } } });
const resultsDir = fileURLToPath(new URL('./results/', import.meta.url));

/** The newest run's main-thread profile: Node 20 also writes one for tsx's loader thread, the smaller one. */
function newest(): string {
  const files = readdirSync(resultsDir)
    .filter((f) => f.startsWith('CPU.') && f.endsWith('.cpuprofile'))
    .map((f) => ({ f, pid: f.split('.')[3], ...statSync(join(resultsDir, f)) }));
  if (!files.length) throw new Error(`no .cpuprofile in ${resultsDir}`);
  const last = files.reduce((a, b) => (b.mtimeMs > a.mtimeMs ? b : a));
  const run = files.filter((x) => x.pid === last.pid);
  return join(resultsDir, run.reduce((a, b) => (b.size > a.size ? b : a)).f);
}

const files = positionals.length ? positionals : [newest()];

// Self time: each sample's time delta belongs to the function on top of the stack.
const self = new Map<string, number>();
let total = 0;
for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  profile.samples.forEach((id, i) => {
    const f = byId.get(id)!.callFrame;
    // No line numbers: tsx runs whitespace-minified code, where every function is on line 1.
    const where = f.url.replace(/^file:\/\/.*?\/(node_modules|src|benchmarks)\//, '$1/');
    const name = `${f.functionName || '(anonymous)'} ${where}`.trim();
    const dt = profile.timeDeltas[i] ?? 0;
    self.set(name, (self.get(name) ?? 0) + dt);
    total += dt;
  });
}

const top = Number(values.top);
const rows = [...self.entries()].sort((a, b) => b[1] - a[1]);
const print = (title: string, list: Array<[string, number]>) => {
  process.stdout.write(`\n${title}\n`);
  for (const [name, us] of list.slice(0, top)) {
    process.stdout.write(`${((us / total) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${name}\n`);
  }
};
process.stdout.write(`${files.length} profile(s), ${(total / 1e6).toFixed(2)} s sampled\n`);
print('top self time, all code', rows);
const ours = rows.filter(([name]) => / src\//.test(name));
const oursTotal = ours.reduce((a, [, us]) => a + us, 0);
print(`top self time in convoy's src/ (${((oursTotal / total) * 100).toFixed(1)}% of all)`, ours);
