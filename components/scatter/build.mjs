// Builds src/index.js and its dependencies into one ES module, ../../static/scatter/scatter.js (or the
// path given as the first argument),
// which the app serves with Streamlit's static serving. Deterministic: the same package-lock.json and
// source give the same bytes (tests/test_scatter_bundle.py rebuilds and compares).
import { build } from 'esbuild';

await build({
  entryPoints: ['src/index.js'],
  outfile: process.argv[2] || '../../static/scatter/scatter.js',
  bundle: true,
  format: 'esm',
  minify: true,
  target: 'es2020',
  legalComments: 'eof',
  logLevel: 'warning',
});
