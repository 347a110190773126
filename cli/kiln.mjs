#!/usr/bin/env node
// `npx kiln`: the CLI is TypeScript run by Node 24's type stripping, like the rest of Kiln. npx puts the
// project's pinned Node first on PATH; any other Node gets a clear line, not a syntax error.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  console.error(`kiln needs Node >= 24 but this is ${process.version}: run it as "npx kiln" after "npm ci".`);
  process.exit(1);
}
await import('./main.ts');
