import { describeThreadStoreContract } from '../contract/thread-store.contract.js';
import { MemoryThreadStore } from '../support/memory-store/index.js';

// The thread store contract on the in-memory adapter: no DynamoDB, no Java.
describeThreadStoreContract('memory', async () => ({ store: new MemoryThreadStore(), cleanup: async () => undefined }));
