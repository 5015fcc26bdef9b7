/**
 * The package as a user gets it: `npm pack` in a temporary copy of the project
 * (never touching the worktree's dist), its file list, its source maps, and a
 * strict TypeScript app type-checked against the installed tarball at the
 * lowest supported @types/node (20.10.0, as `engines` says Node >= 20.10) and
 * the current one.
 */
import anyTest, { type TestFn } from 'ava';
import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { ROOT, exec, tempDir, typecheck, writeConsumer } from './helpers/typecheck.js';

/** The lowest @types/node the declarations support; README, "TypeScript", says so too. */
const LOWEST_TYPES_NODE = '20.10.0';
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const NPM_FLAGS = ['--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', '--loglevel=error'];

interface Packed {
  dir: string;
  tarball: string;
  files: string[];
  consumer: string;
  dispose(): void;
}

const test = anyTest as TestFn<Packed>;

test.before(async (t) => {
  const tmp = tempDir('pack');
  const stage = join(tmp.path, 'stage');
  const consumer = join(tmp.path, 'consumer');
  // Set first, so the temporary directory goes even when packing fails.
  t.context = { dir: stage, tarball: '', files: [], consumer, dispose: tmp.dispose };
  mkdirSync(stage);
  mkdirSync(consumer);
  for (const entry of ['package.json', 'README.md', 'LICENSE', 'tsconfig.json', 'tsconfig.build.json', 'src', 'config']) {
    cpSync(join(ROOT, entry), join(stage, entry), { recursive: true });
  }
  symlinkSync(join(ROOT, 'node_modules'), join(stage, 'node_modules'));
  // The staged build sees node_modules through a symlink: keep its paths (else
  // tsc names the worktree's modules by their real path and refuses, TS2742).
  const buildConfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { compilerOptions?: object };
  buildConfig.compilerOptions = { ...buildConfig.compilerOptions, preserveSymlinks: true };
  writeFileSync(join(stage, 'tsconfig.build.json'), JSON.stringify(buildConfig, null, 2));
  // prepack builds into the staged copy's dist.
  const pack = await exec(NPM, ['pack', '--json', '--pack-destination', tmp.path, '--loglevel=error'], stage, 180_000);
  if (pack.code !== 0) throw new Error(`npm pack failed:\n${pack.stdout}\n${pack.stderr}`);
  const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
  t.context.tarball = join(tmp.path, info.filename);
  t.context.files = info.files.map((f) => f.path).sort();
});

test.after.always((t) => t.context.dispose?.());

test.serial('the tarball holds what users need and nothing else', (t) => {
  const { files } = t.context;
  const modules = files.filter((f) => /^src\/.+\.ts$/.test(f)).map((f) => f.slice('src/'.length, -'.ts'.length));
  t.true(modules.includes('index') && modules.includes('queue') && modules.length >= 10, modules.join(' '));
  // The sandbox's entry runs on its own (in a thread or child process): it must be built.
  t.true(modules.includes('sandbox/child') && modules.includes('sandbox/pool'), modules.join(' '));
  // The subpath export convoy-queue/tasks.
  t.true(modules.includes('tasks/index'), modules.join(' '));
  const expected = new Set(['package.json', 'README.md', 'LICENSE', 'dist/config/default.json']);
  for (const m of modules) {
    for (const suffix of ['.js', '.js.map', '.d.ts', '.d.ts.map']) expected.add(`dist/src/${m}${suffix}`);
    expected.add(`src/${m}.ts`);
  }
  const lua = files.filter((f) => /^dist\/src\/scripts\/.+\.lua$/.test(f));
  t.true(lua.length >= 9, `the Lua scripts: ${lua.join(' ')}`);
  for (const f of lua) expected.add(f);
  t.deepEqual(files, [...expected].sort());
  for (const f of files) t.notRegex(f, /^(test|benchmarks|chaos|examples|\.ci)\/|\.tsbuildinfo$|node_modules/);
  t.regex(readFileSync(join(t.context.dir, 'LICENSE'), 'utf8'), /^MIT License\n\nCopyright \(c\) 2026 convoy-queue contributors/);
});

test.serial("every source map's sources are in the tarball", (t) => {
  const { files, dir } = t.context;
  const maps = files.filter((f) => f.endsWith('.map'));
  t.true(maps.length > 0);
  for (const map of maps) {
    const { sources } = JSON.parse(readFileSync(join(dir, map), 'utf8')) as { sources: string[] };
    for (const source of sources) {
      const path = normalize(join(dirname(map), source));
      t.true(files.includes(path), `${map} points at ${path}, which the package does not contain`);
    }
  }
});

test.serial('the declarations have no internals in them', (t) => {
  const queue = readFileSync(join(t.context.dir, 'dist/src/queue.d.ts'), 'utf8');
  for (const name of ['run', 'command', 'connection', 'onError', 'onCompleted', 'onFailed']) {
    t.notRegex(queue, new RegExp(`^\\s+(readonly )?${name}[(:]`, 'm'), name);
  }
  t.notRegex(readFileSync(join(t.context.dir, 'dist/src/job.d.ts'), 'utf8'), /^\s+abort\(/m);
});

async function install(t: { context: Packed; log(...v: unknown[]): void }, specs: string[]): Promise<void> {
  const result = await exec(NPM, ['install', ...NPM_FLAGS, ...specs], t.context.consumer, 180_000);
  if (result.code !== 0) throw new Error(`npm install ${specs.join(' ')} failed:\n${result.stdout}\n${result.stderr}`);
  const types = JSON.parse(readFileSync(join(t.context.consumer, 'node_modules/@types/node/package.json'), 'utf8')) as { version: string };
  t.log(`@types/node ${types.version}`);
}

test.serial(`a strict app type-checks against the tarball with @types/node ${LOWEST_TYPES_NODE}, the lowest supported (skipLibCheck)`, async (t) => {
  t.timeout(240_000);
  const { consumer, tarball } = t.context;
  writeConsumer(consumer);
  const expectType = JSON.parse(readFileSync(join(ROOT, 'node_modules/expect-type/package.json'), 'utf8')) as { version: string };
  await install(t, [tarball, `@types/node@${LOWEST_TYPES_NODE}`, `expect-type@${expectType.version}`]);
  // skipLibCheck: @types/node 20.10 does not itself compile with TypeScript >= 5.7
  // (Buffer and Uint8Array<T>), and node-redis's declarations name a type it lacks
  // (diagnostics_channel.TracingChannel). Our declarations are checked in full
  // with the current @types/node below.
  const result = await typecheck(consumer, ['--skipLibCheck']);
  t.is(result.code, 0, `tsc reported:\n${result.stdout}${result.stderr}`);
});

test.serial('a strict app type-checks against the tarball with the current @types/node, libraries checked too', async (t) => {
  t.timeout(240_000);
  await install(t, ['@types/node@latest']);
  const result = await typecheck(t.context.consumer);
  t.is(result.code, 0, `tsc reported:\n${result.stdout}${result.stderr}`);
});

test.serial('the installed package runs: its errors, and stack traces into sources it contains', async (t) => {
  t.timeout(120_000);
  const { consumer } = t.context;
  t.true(existsSync(join(consumer, 'node_modules/convoy-queue/package.json')), 'installed by the tests before');
  const script = [
    "import Convoy, { Job, createQueue, InvalidOptionError, InvalidJobIdError } from 'convoy-queue';",
    "try { createQueue('q', { concurrncy: 4 }); } catch (e) { console.log(e instanceof InvalidOptionError, e.message); }",
    'try { new Job(Number.NaN); } catch (e) { console.log(e instanceof InvalidJobIdError, e instanceof Convoy.errors.ConvoyError); console.log(e.stack); }',
    "const { createTaskQueue, UnknownTaskError } = await import('convoy-queue/tasks');",
    "const tasks = createTaskQueue('q', { redis: 'redis://127.0.0.1:1' });",
    "try { tasks.call('nope'); } catch (e) { console.error(e instanceof UnknownTaskError, e instanceof Convoy.errors.UnrecoverableError); }",
    'await tasks.close();',
  ].join('\n');
  const result = await exec(process.execPath, ['--enable-source-maps', '--input-type=module', '-e', script], consumer);
  t.is(result.code, 0, result.stderr);
  t.regex(result.stderr, /^true true$/m, 'convoy-queue/tasks loads from the package, its errors are the core\'s');
  const [first, second, ...stack] = result.stdout.trim().split('\n');
  t.is(first, 'true unknown option `concurrncy`; did you mean `concurrency`?');
  t.is(second, 'true true');
  const frame = stack.find((l) => l.includes('convoy-queue'));
  t.truthy(frame, stack.join('\n'));
  const match = /\((.+?\.ts):\d+:\d+\)/.exec(frame!);
  t.truthy(match, `mapped to a .ts source: ${frame}`);
  t.true(existsSync(match![1]), `${match![1]} exists in the installed package`);
});
