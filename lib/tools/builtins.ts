import * as z from 'zod';
import { type ThreadNotes, type ToolDefinition, ToolError } from './port.js';

/** The name of the tool that hands work to sub-agents: the runtime turns its calls into the fan-out plan. */
export const SPAWN_TOOL = 'spawn';
/** Largest note value (characters) and body kept from an HTTP response (bytes). */
const MAX_NOTE = 4_000;
const MAX_HTTP_BODY = 16_000;
const HTTP_TIMEOUT_MS = 10_000;

const noteKey = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'a note key is 1–64 letters, digits, ".", "_" or "-"');

/** Parses a tool's input with its schema; a bad input is a ToolError the model can correct. */
function parse<T>(schema: z.ZodType<T>, input: unknown): T {
  const result = schema.safeParse(input);
  if (!result.success)
    throw new ToolError(
      `invalid input: ${result.error.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ')}`,
    );
  return result.data;
}

/** memory.read and memory.write: notes scoped to the calling thread. */
export function memoryTools(notes: ThreadNotes): ToolDefinition[] {
  return [
    {
      spec: {
        name: 'memory.read',
        description: "Reads this thread's notes: one by key, or all of them.",
        inputSchema: {
          type: 'object',
          properties: { key: { type: 'string', description: 'the note to read; omit for all' } },
          additionalProperties: false,
        },
      },
      async run(input, context) {
        const { key } = parse(z.object({ key: noteKey.optional() }).strict(), input);
        const found = await notes.read(context.tenant, context.sessionKey, key);
        if (found.length === 0) return key ? `no note "${key}"` : 'no notes yet';
        return found.map((note) => `${note.key}: ${note.value}`).join('\n');
      },
    },
    {
      spec: {
        name: 'memory.write',
        description: "Writes a note into this thread's memory (replacing a note with the same key).",
        inputSchema: {
          type: 'object',
          properties: { key: { type: 'string' }, value: { type: 'string', maxLength: MAX_NOTE } },
          required: ['key', 'value'],
          additionalProperties: false,
        },
      },
      async run(input, context) {
        const { key, value } = parse(z.object({ key: noteKey, value: z.string().max(MAX_NOTE) }).strict(), input);
        await notes.write(context.tenant, context.sessionKey, context.turnId, key, value, new Date().toISOString());
        return `saved note "${key}"`;
      },
    },
  ];
}

/** http.get: fetches a URL whose host is in the agent's `tools.httpAllowHosts`; redirects are not followed. */
export const httpGetTool: ToolDefinition = {
  spec: {
    name: 'http.get',
    description: 'Fetches a web page or API (GET) from an allowed host and returns its status and text.',
    inputSchema: {
      type: 'object',
      properties: { url: { type: 'string', description: 'http(s) URL' } },
      required: ['url'],
      additionalProperties: false,
    },
  },
  async run(input, context) {
    const { url } = parse(z.object({ url: z.string().max(2_000) }).strict(), input);
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      throw new ToolError('not a URL');
    }
    if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new ToolError('only http and https URLs');
    // Exact match on host[:port]: an entry without a port allows only the scheme's default port
    // (URL leaves `port` empty then), so "127.0.0.1" never opens 127.0.0.1:9001.
    if (!context.httpAllowHosts.some((allowed) => allowed.toLowerCase() === target.host)) {
      throw new ToolError(`host ${target.host} is not in this agent's tools.httpAllowHosts`);
    }
    if (target.username || target.password) throw new ToolError('URLs with credentials are not fetched');
    const response = await fetch(target, {
      redirect: 'manual',
      signal: AbortSignal.any([context.signal, AbortSignal.timeout(HTTP_TIMEOUT_MS)]),
    });
    // Read no more than the cap: a huge body must not fill the function's memory.
    const chunks: Buffer[] = [];
    let size = 0;
    const reader = response.body?.getReader();
    while (reader && size <= MAX_HTTP_BODY) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(Buffer.from(value));
      size += value.length;
    }
    await reader?.cancel().catch(() => undefined);
    const body = Buffer.concat(chunks);
    return `HTTP ${response.status}\n${body.subarray(0, MAX_HTTP_BODY).toString('utf8')}${body.length > MAX_HTTP_BODY ? '\n[truncated]' : ''}`;
  },
};

/** spawn: hands a task to a sub-agent. Never run as such: the runtime collects the calls into the fan-out plan. */
export const spawnTool: ToolDefinition = {
  spec: {
    name: SPAWN_TOOL,
    description:
      'Hands a task to one of your sub-agents, which works on it in its own thread; all answers are merged into one reply.',
    inputSchema: {
      type: 'object',
      properties: {
        agent: { type: 'string', description: 'the sub-agent' },
        task: { type: 'string', description: 'what it should do' },
      },
      required: ['agent', 'task'],
      additionalProperties: false,
    },
  },
  async run() {
    throw new ToolError('spawn is planned by the runtime, not run');
  },
};
