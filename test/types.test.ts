/**
 * The type tests: test/types/*.ts compiled by a strict consumer tsconfig
 * against the declarations `npm run build` makes (internals stripped), with
 * the worktree's @types/node. The packed tarball at the lowest and the current
 * @types/node is test/package.test.ts.
 */
import anyTest, { type TestFn } from 'ava';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, TSC, exec, linkNodeModules, tempDir, typecheck, writeConsumer, STRICT_CONSUMER } from './helpers/typecheck.js';

const test = anyTest as TestFn<{ dir: string; dispose(): void }>;

/** A consumer directory whose node_modules holds convoy-queue as built (declarations only) beside the worktree's modules. */
test.before(async (t) => {
  const tmp = tempDir('types');
  t.context = { dir: tmp.path, dispose: tmp.dispose };
  const pkg = join(tmp.path, 'node_modules/convoy-queue');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(pkg, 'package.json'), readFileSync(join(ROOT, 'package.json')));
  const build = await exec(process.execPath, [TSC, '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(pkg, 'dist'), '--emitDeclarationOnly'], ROOT);
  if (build.code !== 0) throw new Error(`building the declarations failed:\n${build.stdout}${build.stderr}`);
  linkNodeModules(tmp.path, ['convoy-queue']);
});

test.after.always((t) => t.context.dispose?.());

test.serial('the public API type-checks as the type tests expect, and misuse does not compile', async (t) => {
  t.timeout(120_000);
  const dir = join(t.context.dir, 'fixtures');
  mkdirSync(dir);
  writeConsumer(dir);
  const result = await typecheck(dir);
  t.is(result.code, 0, `tsc reported:\n${result.stdout}${result.stderr}`);
});

test.serial('an unknown event name or option gives a readable type error', async (t) => {
  t.timeout(120_000);
  const dir = join(t.context.dir, 'misuse');
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ ...STRICT_CONSUMER, compilerOptions: { ...STRICT_CONSUMER.compilerOptions, skipLibCheck: true }, include: ['*.ts'] }));
  writeFileSync(
    join(dir, 'app.ts'),
    ["import { createQueue } from 'convoy-queue';", "createQueue('q').on('progres', () => undefined);", "createQueue('q', { concurrncy: 4 });", ''].join('\n'),
  );
  const result = await typecheck(dir);
  const out = result.stdout + result.stderr;
  t.not(result.code, 0);
  t.regex(out, /app\.ts\(2,\d+\): error TS2345: Argument of type '"progres"' is not assignable to parameter of type 'keyof QueueEvents<\w*>'/, out);
  t.notRegex(out, /type 'never'/, out);
  t.regex(out, /app\.ts\(3,\d+\): .*'concurrncy' does not exist in type 'QueueOptions'\. Did you mean to write 'concurrency'\?/, out);
});
