/** Imports flow downward (DESIGN.md): core imports nothing of ours, policies never import each other, the engine never imports policies. */
module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    { name: 'core-imports-nothing', severity: 'error', from: { path: '^src/core/' }, to: { path: '^src/(?!core/)' } },
    {
      name: 'engine-no-policies',
      severity: 'error',
      from: { path: '^src/engine/' },
      to: { path: '^src/(policies|cli|review|ml|telemetry|auth)/' },
    },
    {
      name: 'policies-independent',
      severity: 'error',
      from: { path: '^src/policies/([^/]+)/' },
      to: { path: '^src/policies/', pathNot: '^src/policies/$1/' },
    },
    {
      name: 'ml-below-policies',
      severity: 'error',
      from: { path: '^src/ml/' },
      to: { path: '^(src/(policies|cli|review|engine)|training|pipelines)/' },
    },
    { name: 'no-test-imports-in-src', severity: 'error', from: { path: '^src/' }, to: { path: '^(test|bench)/' } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
