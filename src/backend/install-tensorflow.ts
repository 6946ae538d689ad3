import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { UserError } from '../errors.js';
import { enginesDir, installRoot, nativeEntry, type NativePackage } from './native-location.js';

/**
 * Makes the `tensorflow` engine available: @tensorflow/tfjs-node (CPU) or @tensorflow/tfjs-node-gpu
 * (CUDA) in difft's engine directory (see native-location.ts), with a TensorFlow shared library its
 * binding loads.
 *
 * Where the library comes from, first that works:
 *   1. nothing to do: the engine already loads (unless `force`);
 *   2. a TensorFlow wheel (`wheel`) or a libtensorflow archive (`libtensorflow`) the user names;
 *   3. `npm`: the package's own install script, which downloads libtensorflow 2.9.1 from Google's
 *      storage (needs that host; CUDA 11.2 + cuDNN 8.1 for the GPU build);
 *   4. `pip`: a TensorFlow wheel fetched by pip from its configured index (a local wheel index works
 *      offline). TensorFlow ≥ 2.18's `libtensorflow_cc.so.2` exports every C symbol the binding calls.
 * Routes 2 and 4 install the package without its download script, put the library and C headers
 * where its binding looks (`deps/`), and compile the binding with node-gyp (offline: Node's headers
 * are taken from the Node installation when it has them).
 */

export type TensorflowSource = 'auto' | 'npm' | 'pip';

export interface InstallOptions {
  gpu?: boolean;
  source?: TensorflowSource;
  /** A TensorFlow wheel (.whl) to take the library from. */
  wheel?: string;
  /** A libtensorflow archive (.tar.gz with include/ and lib/), e.g. a recent GPU build. */
  libtensorflow?: string;
  /** The TensorFlow version pip fetches (route 4). */
  tensorflowVersion?: string;
  force?: boolean;
}

export interface InstallResult {
  package: string;
  /** How the engine was obtained, or that it already worked. */
  route: 'already-installed' | 'wheel' | 'libtensorflow' | 'npm' | 'pip';
  /** The TensorFlow version the loaded binding reports. */
  tensorflowVersion: string;
}

/** The TensorFlow version the pip route fetches unless told otherwise: verified with tfjs-node 4.22. */
export const DEFAULT_TENSORFLOW_VERSION = '2.21.0';

/** The binding's own file names: tfjs-node's install script skips its download when the first exists. */
const BINDING_LIBRARY = 'libtensorflow.so.2.9.1';
const BINDING_FRAMEWORK = 'libtensorflow_framework.so.2.9.1';

type Progress = (line: string) => void;

function tfjsVersion(root: string): string {
  return (
    JSON.parse(readFileSync(join(root, 'node_modules/@tensorflow/tfjs/package.json'), 'utf8')) as { version: string }
  ).version;
}

function run(command: string, args: string[], options: SpawnSyncOptions = {}): { ok: boolean; output: string } {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...options });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  return { ok: result.status === 0, output: result.error ? `${result.error.message}\n${output}` : output };
}

/** The last meaningful line of a tool's output, for a one-line error. */
function lastLine(output: string): string {
  const network = /getaddrinfo \w+ [\w.-]+|connect E\w+ [\d.:]+|E(AI_AGAIN|NOTFOUND|CONNREFUSED|TIMEDOUT) [\w.-]+/.exec(
    output,
  );
  if (network) return `no network access (${network[0]})`;
  const lines = output
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !/^npm (warn|notice)|complete log of this run/.test(line));
  const error = lines.filter((line) => /error|ERR!|not found|No matching/i.test(line)).pop();
  return (error ?? lines.pop() ?? '').slice(0, 200);
}

/**
 * Loads the package in a child process (a native library loaded here could not be reloaded after a
 * rebuild) and returns the TensorFlow version it reports, or why it failed.
 */
export function probeNative(
  root: string,
  pkg: NativePackage,
): { ok: true; version: string } | { ok: false; detail: string } {
  const entry = nativeEntry(pkg, root);
  const specifier = entry === pkg ? pkg : pathToFileURL(entry).href;
  const script = `
    try {
      const tf = await import(${JSON.stringify(specifier)});
      console.log(JSON.stringify({ ok: true, version: tf.backend().binding?.TF_Version ?? 'unknown' }));
    } catch (error) {
      console.log(JSON.stringify({ ok: false, detail: String(error.message).split('\\n')[0].slice(0, 200) }));
    }`;
  const child = run(process.execPath, ['--input-type=module', '-e', script], {
    cwd: root,
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' },
    timeout: 120_000,
  });
  const last = child.output
    .trim()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .pop();
  try {
    return JSON.parse(last ?? '');
  } catch {
    return { ok: false, detail: lastLine(child.output) || 'the probe printed nothing' };
  }
}

/**
 * Installs a native package into difft's engine directory, then removes that directory's copies of
 * tfjs itself so that the package binds to difft's (see native-location.ts).
 */
function npmInstall(root: string, pkg: NativePackage, ignoreScripts: boolean): { ok: boolean; output: string } {
  const directory = enginesDir(root);
  mkdirSync(directory, { recursive: true });
  if (!existsSync(join(directory, 'package.json')))
    writeFileSync(
      join(directory, 'package.json'),
      '{ "private": true, "description": "native engines installed by difft setup" }\n',
    );
  const spec = `${pkg}@${tfjsVersion(root)}`;
  const args = [
    'install',
    '--prefix',
    directory,
    '--no-audit',
    '--no-fund',
    ...(ignoreScripts ? ['--ignore-scripts'] : []),
    spec,
  ];
  const result = run(process.platform === 'win32' ? 'npm.cmd' : 'npm', args, { cwd: directory });
  const scope = join(directory, 'node_modules', '@tensorflow');
  if (existsSync(scope)) {
    for (const name of readdirSync(scope))
      if (!name.startsWith('tfjs-node')) rmSync(join(scope, name), { recursive: true, force: true });
  }
  return result;
}

function cacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'difft', 'tensorflow');
}

/** Fetches a TensorFlow wheel with pip into difft's cache (pip reuses a file already there). */
function pipWheel(version: string, gpu: boolean): string {
  const project = gpu ? 'tensorflow' : 'tensorflow-cpu';
  const directory = join(cacheDir(), 'wheels');
  mkdirSync(directory, { recursive: true });
  const args = ['download', '--no-deps', '--only-binary=:all:', '-d', directory, `${project}==${version}`];
  const attempts: string[] = [];
  for (const [command, prefix] of [
    ['pip3', []],
    ['pip', []],
    ['python3', ['-m', 'pip']],
  ] as const) {
    const result = run(command, [...prefix, ...args]);
    if (result.ok) {
      const name = readdirSync(directory).find(
        (file) => file.startsWith(`${project.replace('-', '_')}-${version}-`) && file.endsWith('.whl'),
      );
      if (name) return join(directory, name);
    }
    attempts.push(`${command}: ${lastLine(result.output)}`);
    if (!/ENOENT/.test(result.output)) break; // pip ran and said no: another pip will say the same
  }
  throw new UserError(
    `no ${project} ${version} wheel could be fetched with pip (${attempts.join('; ')}); ` +
      'name a wheel with --wheel FILE or a libtensorflow archive with --libtensorflow FILE, or pick another version ' +
      'with --tf-version',
  );
}

/** Members of a TensorFlow wheel the binding needs: the two libraries and the C API headers. */
const WHEEL_MEMBERS = [
  'tensorflow/libtensorflow_cc.so.2',
  'tensorflow/libtensorflow_framework.so.2',
  'tensorflow/include/tensorflow/c/',
  'tensorflow/include/tensorflow/core/platform/ctstring',
  'tensorflow/include/tsl/platform/ctstring',
  'tensorflow/include/xla/tsl/c/',
];

/** Unpacks the wheel's library and headers into `staging` as include/ and lib/ (python's zipfile streams). */
function unpackWheel(wheel: string, staging: string): void {
  const script = `
import sys, zipfile, shutil, os
wheel, out, prefixes = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as archive:
    for member in archive.infolist():
        if member.is_dir() or not any(member.filename.startswith(p) for p in prefixes):
            continue
        name = member.filename[len('tensorflow/'):]
        target = os.path.join(out, 'lib', os.path.basename(name)) if name.startswith('lib') else os.path.join(out, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with archive.open(member) as source, open(target, 'wb') as sink:
            shutil.copyfileobj(source, sink, 1 << 22)
`;
  const result = run('python3', ['-c', script, wheel, staging, ...WHEEL_MEMBERS]);
  if (!result.ok) throw new UserError(`could not unpack ${wheel} with python3: ${lastLine(result.output)}`);
  const lib = join(staging, 'lib');
  if (!existsSync(join(lib, 'libtensorflow_cc.so.2'))) {
    throw new UserError(
      `${wheel} holds no tensorflow/libtensorflow_cc.so.2: use a TensorFlow wheel for Linux x86-64 (tensorflow ` +
        `or tensorflow-cpu ≥ 2.18)`,
    );
  }
  // The binding links -ltensorflow -ltensorflow_framework and loads the libraries' own names.
  renameSync(join(lib, 'libtensorflow_cc.so.2'), join(lib, BINDING_LIBRARY));
  renameSync(join(lib, 'libtensorflow_framework.so.2'), join(lib, BINDING_FRAMEWORK));
  for (const name of ['libtensorflow_cc.so.2', 'libtensorflow.so.2', 'libtensorflow.so'])
    symlinkSync(BINDING_LIBRARY, join(lib, name));
  for (const name of ['libtensorflow_framework.so.2', 'libtensorflow_framework.so'])
    symlinkSync(BINDING_FRAMEWORK, join(lib, name));
}

/** Unpacks a libtensorflow archive (include/ and lib/ at its top, as tensorflow.org publishes them). */
function unpackArchive(archive: string, staging: string): void {
  mkdirSync(staging, { recursive: true });
  const result = run('tar', ['-xzf', archive, '-C', staging]);
  if (!result.ok) throw new UserError(`could not unpack ${archive} with tar: ${lastLine(result.output)}`);
  const lib = join(staging, 'lib');
  const library = existsSync(lib)
    ? readdirSync(lib).find(
        (name) => /^libtensorflow\.so\.\d/.test(name) && !lstatSync(join(lib, name)).isSymbolicLink(),
      )
    : undefined;
  if (!library || !existsSync(join(staging, 'include/tensorflow/c/c_api.h'))) {
    throw new UserError(
      `${archive} is not a libtensorflow archive (expected lib/libtensorflow.so.2.* and include/tensorflow/c/c_api.h ` +
        `at its top)`,
    );
  }
  if (!existsSync(join(lib, BINDING_LIBRARY))) symlinkSync(library, join(lib, BINDING_LIBRARY));
}

/** Node's headers from the running installation, so that node-gyp needs no download. */
function nodeHeadersDir(): string | undefined {
  const prefix = resolve(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include/node/node_api.h')) ? prefix : undefined;
}

function compileBinding(root: string, packageDir: string): void {
  const preGyp = join(enginesDir(root), 'node_modules/@mapbox/node-pre-gyp/bin/node-pre-gyp');
  const headers = nodeHeadersDir();
  const args = [preGyp, 'install', '--build-from-source', ...(headers ? [`--nodedir=${headers}`] : [])];
  const result = run(process.execPath, args, { cwd: packageDir });
  if (!result.ok) {
    throw new UserError(
      `compiling the TensorFlow binding failed (node-gyp needs python3, make and a C++ compiler): ` +
        `${lastLine(result.output)}`,
    );
  }
}

/** Installs the package without its download script, stages the library, compiles the binding. */
function installFromLibrary(
  root: string,
  pkg: NativePackage,
  stage: (staging: string) => void,
  progress: Progress,
  sourceLabel: string,
): void {
  progress(
    `installing ${pkg}@${tfjsVersion(root)} into ${enginesDir(root)} (package files only, from the npm registry)`,
  );
  const installed = npmInstall(root, pkg, true);
  if (!installed.ok) throw new UserError(`npm could not install ${pkg}: ${lastLine(installed.output)}`);
  const packageDir = join(enginesDir(root), 'node_modules', pkg);
  const deps = join(packageDir, 'deps');
  const staging = `${deps}.tmp-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  progress(`unpacking TensorFlow from ${sourceLabel} (about 850 MB)`);
  try {
    stage(staging);
    rmSync(deps, { recursive: true, force: true });
    renameSync(staging, deps);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  progress('compiling the binding (node-gyp, about 10 s)');
  compileBinding(root, packageDir);
}

function requireFile(path: string, what: string): string {
  const full = resolve(path);
  if (!existsSync(full) || !statSync(full).isFile()) throw new UserError(`${what} ${path} not found`);
  return full;
}

export function installTensorflow(options: InstallOptions = {}, progress: Progress = () => {}): InstallResult {
  const root = installRoot();
  const pkg: NativePackage = options.gpu ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
  const verified = (route: InstallResult['route']): InstallResult => {
    progress('checking that the engine loads');
    const probe = probeNative(root, pkg);
    if (!probe.ok) throw new UserError(`${pkg} was installed but does not load: ${probe.detail}`);
    return { package: pkg, route, tensorflowVersion: probe.version };
  };

  if (!options.force) {
    const probe = probeNative(root, pkg);
    if (probe.ok) return { package: pkg, route: 'already-installed', tensorflowVersion: probe.version };
  }
  if (options.wheel) {
    const wheel = requireFile(options.wheel, 'wheel');
    installFromLibrary(root, pkg, (staging) => unpackWheel(wheel, staging), progress, basename(wheel));
    return verified('wheel');
  }
  if (options.libtensorflow) {
    const archive = requireFile(options.libtensorflow, 'libtensorflow archive');
    installFromLibrary(root, pkg, (staging) => unpackArchive(archive, staging), progress, basename(archive));
    return verified('libtensorflow');
  }

  const source = options.source ?? 'auto';
  const reasons: string[] = [];
  if (source === 'auto' || source === 'npm') {
    progress(`installing ${pkg} the ordinary way (its script downloads libtensorflow 2.9.1)`);
    const installed = npmInstall(root, pkg, false);
    const probe = installed.ok ? probeNative(root, pkg) : undefined;
    if (probe?.ok) return { package: pkg, route: 'npm', tensorflowVersion: probe.version };
    const why = installed.ok
      ? `installed but not loadable (${(probe as { detail: string }).detail})`
      : lastLine(installed.output);
    if (source === 'npm') throw new UserError(`npm install ${pkg} failed: ${why}`);
    reasons.push(`npm: ${why}`);
    progress(`the ordinary install failed (${why}); trying a TensorFlow wheel from pip`);
  }
  const version = options.tensorflowVersion ?? DEFAULT_TENSORFLOW_VERSION;
  progress(
    `fetching the ${options.gpu ? 'tensorflow' : 'tensorflow-cpu'} ${version} wheel with pip (about 270 MB, cached ` +
      `in ${cacheDir()})`,
  );
  let wheel: string;
  try {
    wheel = pipWheel(version, options.gpu ?? false);
  } catch (error) {
    if (reasons.length && error instanceof UserError) throw new UserError(`${reasons.join('; ')}; ${error.message}`);
    throw error;
  }
  installFromLibrary(root, pkg, (staging) => unpackWheel(wheel, staging), progress, basename(wheel));
  return verified('pip');
}
