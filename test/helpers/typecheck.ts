/**
 * Type-checking the package as a user sees it: its declarations (built into a
 * temporary directory, never the worktree's dist) or its packed tarball,
 * compiled with a strict consumer tsconfig against the fixtures in test/types.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
export const FIXTURES = join(ROOT, 'test/types');

const run = promisify(execFile);

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a command; never throws for a non-zero exit, reports it. */
export async function exec(file: string, args: readonly string[], cwd: string, timeout = 120_000): Promise<RunResult> {
  try {
    const { stdout, stderr } = await run(file, args, { cwd, timeout, maxBuffer: 32 * 1024 * 1024, env: { ...process.env, FORCE_COLOR: '0' } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string; message: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? e.message };
  }
}

/** A temporary directory, removed by `dispose`. */
export function tempDir(label: string): { path: string; dispose(): void } {
  const path = mkdtempSync(join(tmpdir(), `convoy-${label}-`));
  return { path, dispose: () => rmSync(path, { recursive: true, force: true }) };
}

/** The tsconfig of a strict user app: everything on, and the libraries' declarations checked too. */
export const STRICT_CONSUMER = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    lib: ['ES2022', 'DOM'],
    types: ['node'],
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    noImplicitOverride: true,
    noUnusedLocals: true,
    skipLibCheck: false,
    noEmit: true,
  },
};

/** Lay out a consumer project in `dir`: package.json, tsconfig and the fixtures. */
export function writeConsumer(dir: string, tsconfig: object = STRICT_CONSUMER): void {
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2));
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ ...tsconfig, include: ['*.ts'] }, null, 2));
  for (const f of readdirSync(FIXTURES)) if (f.endsWith('.ts')) cpSync(join(FIXTURES, f), join(dir, f));
}

/** Every module of the worktree's node_modules, linked into `dir/node_modules` (so a real package can sit beside them). */
export function linkNodeModules(dir: string, except: readonly string[] = []): void {
  const target = join(dir, 'node_modules');
  const source = join(ROOT, 'node_modules');
  for (const entry of readdirSync(source)) {
    if (entry === '.bin' || except.includes(entry)) continue;
    symlinkSync(join(source, entry), join(target, entry));
  }
}

/** tsc --noEmit in `dir`, with the consumer's tsconfig and `extra` flags. */
export async function typecheck(dir: string, extra: readonly string[] = []): Promise<RunResult> {
  return exec(process.execPath, [TSC, '-p', join(dir, 'tsconfig.json'), '--noEmit', '--pretty', 'false', ...extra], dir);
}
