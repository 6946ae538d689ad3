/**
 * The layering of src/, checked by `npm run lint` (dependency-cruiser). Folders are listed bottom
 * to top: a folder may import the folders of lower layers only — never one of its own layer or a
 * higher one. `shared` is the files directly in src/ (errors, durable writes, seeded random
 * numbers), which everything may use. docs/design.md draws this same table (a test holds them equal).
 */
const LAYERS = [
  ['shared'],
  ['formats'],
  ['config', 'backend'],
  ['data'],
  ['model'],
  ['checkpoint', 'measure'],
  ['eval'],
  ['train'],
  ['export', 'generate', 'inspect'],
  ['report'],
  ['compare'],
  ['api'],
  ['cli'],
];

/** What states the math stays engine-agnostic: the engine and its compiled programs live in backend/. */
const ENGINE_FREE = ['data', 'model', 'checkpoint', 'measure'];

const path = (folder) => (folder === 'shared' ? '^src/[^/]+\\.ts$' : `^src/${folder}/`);

const layerRules = LAYERS.flatMap((layer, index) =>
  layer.flatMap((folder) => {
    const above = LAYERS.slice(index).flat().filter((other) => other !== folder);
    if (above.length === 0) return [];
    return {
      name: `layer-${folder}`,
      comment: `${folder} may import only layers below it (.dependency-cruiser.cjs)`,
      severity: 'error',
      from: { path: path(folder) },
      to: { path: above.map(path).join('|') },
    };
  }),
);

module.exports = {

  forbidden: [
    ...layerRules,
    {
      name: 'engine-free',
      comment: `${ENGINE_FREE.join(', ')} never import backend/: engine machinery stays behind its interface`,
      severity: 'error',
      from: { path: `^src/(${ENGINE_FREE.join('|')})/` },
      to: { path: '^src/backend/' },
    },
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^src/',
    parser: 'swc',
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
// not part of dependency-cruiser's schema: read by test/layering.test.ts
Object.defineProperty(module.exports, 'LAYERS', { value: LAYERS, enumerable: false });
