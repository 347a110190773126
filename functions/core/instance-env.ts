/**
 * Which `spec.env` variables Kiln refuses. Embedded instances run as processes on the Kiln host and
 * EC2 instances run Kiln's user data, so a spec must not be able to change how the host starts, links
 * or runs them: only the application reads `spec.env`, never the loader, the shell or the runtime.
 * Names are compared case-insensitively (`path`, `Node_Options`): some runtimes and shells fold case,
 * and a near-duplicate of a reserved name is a mistake either way.
 *
 * Pure: the edge validates bodies with it, adapters may check again before they launch anything.
 */

/** Families refused by prefix (upper case). */
const RESERVED_PREFIXES: readonly string[] = [
  // Node.js reads NODE_OPTIONS (--require, --import: arbitrary code before the app), NODE_PATH (module
  // resolution), NODE_TLS_REJECT_UNAUTHORIZED (certificate checks) and more; the family is Node's.
  'NODE_',
  // libuv under Node: thread pool size, io_uring.
  'UV_',
  // The dynamic loader: LD_PRELOAD, LD_AUDIT, LD_LIBRARY_PATH load code into every process started.
  'LD_',
  // The same for macOS's dyld.
  'DYLD_',
  // glibc's malloc tunables and tracing (MALLOC_CHECK_, MALLOC_ARENA_MAX, MALLOC_TRACE writes a file).
  'MALLOC_',
  // Kiln's own identity on every instance (KILN_STACK_ID, KILN_INSTANCE_ID, ...): Kiln finds, adopts
  // and reaps processes by them, so a spec that set them could make Kiln act on the wrong processes.
  'KILN_',
  // Bash imports exported functions from BASH_FUNC_<name>%% variables (the Shellshock surface).
  'BASH_FUNC_',
  // Interpreters that load code or options from the environment: PYTHONPATH, PYTHONSTARTUP,
  // PYTHONINSPECT...; PERL5OPT, PERL5LIB, PERL5DB...
  'PYTHON',
  'PERL5',
  // .NET: DOTNET_STARTUP_HOOKS and CORECLR_PROFILER_PATH load assemblies and native profilers;
  // COMPlus_* is the legacy spelling of the runtime's configuration knobs.
  'DOTNET_',
  'CORECLR_',
  'COMPLUS_',
];

/** Single names refused (upper case). */
const RESERVED_NAMES: ReadonlySet<string> = new Set([
  // Which executable a bare command name runs; Kiln passes the host's PATH through.
  'PATH',
  // Set by Kiln on every instance: where it listens (traffic and health checks go there) and what runs.
  'PORT',
  'APP_VERSION',
  // Shells: BASH_ENV and ENV name a file non-interactive shells source first; ZDOTDIR moves zsh's
  // startup files; SHELLOPTS/BASHOPTS switch options on; IFS changes word splitting; PS4 is expanded,
  // command substitutions included, whenever tracing is on.
  'BASH_ENV',
  'ENV',
  'ZDOTDIR',
  'SHELLOPTS',
  'BASHOPTS',
  'IFS',
  'PS4',
  // glibc: the variables it strips from setuid programs because they change what libc loads or reads
  // (GLIBC_TUNABLES was CVE-2023-4911; GCONV_PATH loads conversion modules, i.e. code).
  'GLIBC_TUNABLES',
  'GCONV_PATH',
  'GETCONF_DIR',
  'LOCPATH',
  'NLSPATH',
  'HOSTALIASES',
  'LOCALDOMAIN',
  'RES_OPTIONS',
  'RESOLV_HOST_CONF',
  'NIS_PATH',
  'TZDIR',
  // OpenSSL loads its configuration, engines and providers (shared objects) from these.
  'OPENSSL_CONF',
  'OPENSSL_MODULES',
  'OPENSSL_ENGINES',
  // Interpreters and VMs that take code or options from the environment.
  'PERLLIB',
  'RUBYOPT',
  'RUBYLIB',
  'JAVA_TOOL_OPTIONS',
  '_JAVA_OPTIONS',
  'JDK_JAVA_OPTIONS',
]);

/**
 * Allowed although a reserved family's prefix matches: NODE_ENV is the application's own setting
 * (`production`, `development`); Node itself never reads it.
 */
const APPLICATION_NAMES: ReadonlySet<string> = new Set(['NODE_ENV']);

/** Whether Kiln refuses this variable name in `spec.env` (case-insensitive). */
export function isReservedVariable(name: string): boolean {
  const upper = name.toUpperCase();
  if (APPLICATION_NAMES.has(upper)) return false;
  return RESERVED_NAMES.has(upper) || RESERVED_PREFIXES.some((prefix) => upper.startsWith(prefix));
}

/** The names among `names` that Kiln refuses in `spec.env`, sorted and without duplicates. */
export function reservedVariables(names: Iterable<string>): string[] {
  return [...new Set(names)].filter(isReservedVariable).sort();
}
