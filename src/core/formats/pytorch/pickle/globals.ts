import { instantiate, PyClass, PyComplex, PyFunction } from './values';

/**
 * The allow-list of globals: the security boundary of the unpickler. Python's unpickler imports
 * whatever a GLOBAL names and calls it on REDUCE, which is how a checkpoint can run arbitrary
 * code. Here a GLOBAL resolves only to
 * - a data-building callable the caller supplies (torch's, see ../torchGlobals.ts), or
 * - one of Python's builtins that only build data (below: OrderedDict, dict, set, list, bytes …);
 * every other name becomes an inert `PyClass` placeholder, and calling it only records its
 * arguments. Names that run code or touch the system are refused outright (`runsCode`).
 */

/**
 * Globals through which malicious pickles run code or touch the system. Nothing is imported or
 * called here either way, but a file that names one is reported as 'unsafe' rather than shown as
 * data: it is dangerous to anyone who opens it with torch.load, and no checkpoint needs them.
 */
const CODE_RUNNING_MODULES = new Set([
  'os',
  'posix',
  'nt',
  'subprocess',
  'sys',
  'shutil',
  'socket',
  'pty',
  'importlib',
  'runpy',
  'code',
  'codeop',
  'pickle',
  '_pickle',
  'marshal',
  'ctypes',
  'multiprocessing',
  'webbrowser',
  'asyncio',
  'pdb',
  'bdb',
  'timeit',
  'profile',
  'cProfile',
  'trace',
  'ftplib',
  'smtplib',
  'telnetlib',
  'pip',
  'setuptools',
  'distutils',
  'commands',
  'popen2',
  '_thread',
  'io',
  '_io',
  'zipimport',
  'imp',
]);
/** Modules with harmless data types beside dangerous functions: only these prefixes are flagged. */
const CODE_RUNNING_SUBMODULES =
  /^(urllib\.request|http\.(client|server)|numpy\.(testing|distutils|f2py)|torch\.(hub|package|utils\.cpp_extension|serialization))(\.|$)/;
const CODE_RUNNING_NAMES = new Set([
  'types.FunctionType',
  'types.LambdaType',
  'types.CodeType',
  'types.MethodType',
  'torch.load',
  'torch.jit.load',
]);
const CODE_RUNNING_BUILTINS = new Set([
  'eval',
  'exec',
  'execfile',
  'compile',
  'open',
  'file',
  '__import__',
  'getattr',
  'setattr',
  'delattr',
  'globals',
  'locals',
  'vars',
  'input',
  'raw_input',
  'breakpoint',
  'help',
  'exit',
  'quit',
  'reload',
]);

export function runsCode(module: string, name: string): boolean {
  const root = module.split('.')[0];
  if (CODE_RUNNING_MODULES.has(root)) return true;
  if (root === 'builtins' || root === '__builtin__') return CODE_RUNNING_BUILTINS.has(name);
  return CODE_RUNNING_SUBMODULES.test(module) || CODE_RUNNING_NAMES.has(`${module}.${name}`);
}

/** Python's builtins that only build data. Protocol 2 writes `__builtin__` for Python 3's `builtins`. */
function builtinGlobal(module: string, name: string): unknown {
  const qualified = `${module}.${name}`;
  switch (module === '__builtin__' ? `builtins.${name}` : module === 'copy_reg' ? `copyreg.${name}` : qualified) {
    case 'collections.OrderedDict':
    case 'builtins.dict':
      return new PyFunction(qualified, (args, kwargs) => {
        const map = new Map<unknown, unknown>();
        if (args.length > 0) for (const [k, v] of pairsOf(args[0])) map.set(k, v);
        if (kwargs) for (const [k, v] of kwargs) map.set(k, v);
        return map;
      });
    case 'builtins.set':
    case 'builtins.frozenset':
      return new PyFunction(qualified, (args) => new Set(args.length > 0 ? itemsOf(args[0]) : []));
    case 'builtins.list':
    case 'builtins.tuple':
      return new PyFunction(qualified, (args) => (args.length > 0 ? [...itemsOf(args[0])] : []));
    case 'builtins.bytearray':
    case 'builtins.bytes':
      return new PyFunction(qualified, (args) => bytesFrom(args));
    case '_codecs.encode':
      // How protocol 2 writes bytes: _codecs.encode(text, 'latin1').
      return new PyFunction(qualified, (args) => bytesFrom(args));
    case 'builtins.complex':
      return new PyFunction(qualified, (args) => new PyComplex(Number(args[0] ?? 0), Number(args[1] ?? 0)));
    case 'builtins.int':
      return new PyFunction(qualified, (args) =>
        typeof args[0] === 'string' ? Number.parseInt(args[0], Number(args[1] ?? 10)) : Number(args[0] ?? 0),
      );
    case 'builtins.float':
      return new PyFunction(qualified, (args) => Number(args[0] ?? 0));
    case 'builtins.bool':
      return new PyFunction(qualified, (args) => Boolean(args[0]));
    case 'builtins.str':
      return new PyFunction(qualified, (args) => (typeof args[0] === 'string' ? args[0] : ''));
    case 'builtins.object':
      return new PyClass(module, name);
    case 'copyreg._reconstructor':
      // Protocols 0 and 1 build instances as _reconstructor(cls, base, state): an instance of cls.
      return new PyFunction(qualified, (args) => instantiate(args[0], [], undefined));
    default:
      return undefined;
  }
}

function itemsOf(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (value instanceof Set) return [...value];
  if (value instanceof Map) return [...value.keys()];
  if (typeof value === 'string') return [...value];
  if (value instanceof Uint8Array) return Array.from(value);
  return [];
}

function pairsOf(value: unknown): Iterable<[unknown, unknown]> {
  if (value instanceof Map) return value.entries();
  const pairs: [unknown, unknown][] = [];
  for (const pair of itemsOf(value)) if (Array.isArray(pair) && pair.length === 2) pairs.push(pair as [unknown, unknown]);
  return pairs;
}

function bytesFrom(args: readonly unknown[]): Uint8Array {
  const [source] = args;
  if (source instanceof Uint8Array) return source.slice();
  if (typeof source === 'string') return Uint8Array.from(source, (c) => c.charCodeAt(0) & 0xff);
  if (Array.isArray(source)) return Uint8Array.from(source, (x) => Number(x) & 0xff);
  return new Uint8Array(0);
}

/**
 * What a GLOBAL (module, name) that `runsCode` does not refuse resolves to: the caller's
 * allowlisted value, else a data-building builtin, else an inert placeholder.
 */
export function resolveGlobal(module: string, name: string, fromCaller?: (module: string, name: string) => unknown): unknown {
  const allowed = fromCaller?.(module, name);
  if (allowed !== undefined) return allowed;
  return builtinGlobal(module, name) ?? new PyClass(module, name);
}
