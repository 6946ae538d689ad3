import { type EngineChoice, type EngineOptions, type EngineRequest, useEngine } from '../backend/engines.js';

/** The engine a job that loads a checkpoint runs on; reported through `onEngine` once chosen. */
export async function engineFor(
  backend: EngineRequest | undefined,
  onEngine?: (choice: EngineChoice) => void,
  options: EngineOptions = {},
): Promise<EngineChoice> {
  const choice = await useEngine(backend ?? 'auto', options);
  onEngine?.(choice);
  return choice;
}
