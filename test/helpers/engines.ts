import { listEngines, type EngineName } from '../../src/backend/engines.js';

/**
 * The engines the engine-parametrised suites run on: the cpu reference, then every faster engine
 * that loads here (wasm always; tensorflow once `difft setup tensorflow` has run). DIFFT_TEST_ENGINES
 * (e.g. `cpu,wasm,tensorflow`) names them instead, and then an engine that does not load fails the
 * run rather than being skipped: CI sets it when it has built the tensorflow engine.
 */
async function chooseTestEngines(): Promise<EngineName[]> {
  const probes = await listEngines();
  const named = process.env.DIFFT_TEST_ENGINES?.split(',')
    .map((name) => name.trim())
    .filter(Boolean) as EngineName[] | undefined;
  if (named?.length) {
    for (const name of named) {
      const probe = probes.find((p) => p.name === name);
      if (!probe?.available)
        throw new Error(
          `DIFFT_TEST_ENGINES names ${name}, which does not load here: ${probe?.detail ?? 'unknown engine'}`,
        );
    }
    return named;
  }
  return (['cpu', 'wasm', 'tensorflow'] as EngineName[]).filter(
    (name) => probes.find((p) => p.name === name)?.available,
  );
}

export const TEST_ENGINES: EngineName[] = await chooseTestEngines();

/** The engines other than the cpu reference, to compare with it. */
export const FAST_ENGINES: EngineName[] = TEST_ENGINES.filter((name) => name !== 'cpu');
