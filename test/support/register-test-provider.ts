import { registerLocalProvider } from '../../lib/models/model-chain.js';
import { TestProvider } from './test-provider.js';

// Makes `test:<spec>` model references resolve in this process (docs/architecture.md, "Persistence ports and adapters").
// Loaded by vitest for every test file (setupFiles), and with `node --import` by the tests and benches
// that start the local stack as its own process.
registerLocalProvider('test', (spec) => new TestProvider(spec));
