import type { Command } from 'commander';
import { listEngines } from '../backend/engines.js';
import { action } from './run.js';

export function backendsCommand(program: Command): void {
  program
    .command('backends')
    .description('list the tfjs engines difft can use here, and why the others cannot load')
    .option('--json', 'print machine-readable results')
    .addHelpText('after', ['', 'Example:', '  $ difft backends'].join('\n'))
    .action(
      action(async (options: { json?: boolean }) => {
        const engines = await listEngines();
        if (options.json) {
          process.stdout.write(`${JSON.stringify(engines, null, 2)}\n`);
          return;
        }
        for (const engine of engines) {
          const mark = engine.available ? 'available  ' : 'unavailable';
          process.stdout.write(`${engine.name.padEnd(11)} ${mark}  ${engine.detail}\n`);
        }
        const chosen = engines.find((engine) => engine.available);
        if (chosen) process.stdout.write(`\n--backend auto picks: ${chosen.name}\n`);
      }),
    );
}
