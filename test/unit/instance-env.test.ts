import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isReservedVariable, reservedVariables } from '../../functions/core/instance-env.ts';

describe('variables a spec may not set on an instance', () => {
  const refused = [
    'NODE_OPTIONS',
    'NODE_PATH',
    'LD_PRELOAD',
    'LD_LIBRARY_PATH',
    'LD_AUDIT',
    'DYLD_INSERT_LIBRARIES',
    'PATH',
    'KILN_STACK_ID',
    'KILN_ANYTHING',
    'PORT',
    'APP_VERSION',
    'BASH_ENV',
    'ENV',
    'SHELLOPTS',
    'BASHOPTS',
    'IFS',
    'PS4',
    'GLIBC_TUNABLES',
    'GCONV_PATH',
    'LOCPATH',
    'NLSPATH',
    'HOSTALIASES',
    'RES_OPTIONS',
    'MALLOC_CHECK_',
    'MALLOC_ARENA_MAX',
    'UV_THREADPOOL_SIZE',
    'OPENSSL_CONF',
    'OPENSSL_MODULES',
    'PYTHONPATH',
    'PYTHONSTARTUP',
    'PERL5OPT',
    'PERL5LIB',
    'PERLLIB',
    'RUBYOPT',
    'RUBYLIB',
    'JAVA_TOOL_OPTIONS',
    '_JAVA_OPTIONS',
    'JDK_JAVA_OPTIONS',
    'DOTNET_STARTUP_HOOKS',
    'CORECLR_PROFILER_PATH',
    'COMPlus_EnableDiagnostics',
  ];

  for (const name of refused) {
    it(`refuses ${name}, in any case`, () => {
      assert.equal(isReservedVariable(name), true);
      assert.equal(isReservedVariable(name.toLowerCase()), true);
    });
  }

  it('allows what applications set for themselves', () => {
    for (const name of [
      'DATABASE_URL',
      'API_TOKEN',
      'SAMPLE_HEALTH',
      'FEATURE',
      'PORTAL',
      'MYPATH',
      'ENVIRONMENT',
      'NODE_ENV',
      'node_env',
    ]) {
      assert.equal(isReservedVariable(name), false, name);
    }
  });

  it('returns the refused names sorted, each once', () => {
    assert.deepEqual(reservedVariables(['NODE_OPTIONS', 'GREETING', 'LD_PRELOAD', 'path', 'NODE_OPTIONS']), [
      'LD_PRELOAD',
      'NODE_OPTIONS',
      'path',
    ]);
    assert.deepEqual(reservedVariables([]), []);
    assert.deepEqual(reservedVariables(new Set(['A', 'B'])), []);
  });
});
