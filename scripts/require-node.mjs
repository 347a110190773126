// Guard run before every npm script: Kiln needs Node >= 24 (native TypeScript, aws-local-stepfunctions,
// middy 7). The project pins Node 24 as a devDependency; calling tools directly bypasses it.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  console.error(
    `Kiln needs Node >= 24 but this is ${process.version}. Run it through npm scripts (npm start, npm test), which use the project's pinned Node, after a full "npm ci" (not --ignore-scripts).`,
  );
  process.exit(1);
}
