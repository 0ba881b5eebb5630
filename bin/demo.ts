import { readFileSync } from 'node:fs';

/**
 * `npm run demo` (against a running `npm start`): the seed scenario. The main agent fans
 * "analyse the BTC price trend" out to data and analysis in parallel, trading merges, and one
 * reply comes back; then the child threads and the audit trail.
 */
const base = process.env.TB ?? `http://127.0.0.1:${process.env.PORT ?? 3000}`;
const key =
  process.env.KEY ??
  (
    JSON.parse(readFileSync(`${process.env.THREADBOUND_DATA_DIR ?? '.threadbound'}/keys.json`, 'utf8')) as {
      key: string;
      admin: boolean;
    }[]
  ).find((k) => !k.admin)?.key;

async function call(method: string, path: string, body?: unknown): Promise<any> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const payload = (await response.json()) as any;
  if (!response.ok) throw new Error(`${method} ${path} → ${response.status} ${JSON.stringify(payload)}`);
  return payload;
}

async function main(): Promise<void> {
  if (!key) throw new Error('no API key: set KEY, or run `npm start` first so .threadbound/keys.json exists');
  const thread = await call('POST', '/v1/threads', { agent: 'main', metadata: { demo: 'btc-trend' } });
  console.log(`thread ${thread.sessionKey} (agent main)`);
  const input = 'analyse the BTC price trend';
  const { turnId } = await call('POST', `/v1/threads/${thread.sessionKey}/turns`, {
    input,
    idempotencyKey: 'demo-btc-trend',
  });
  console.log(`turn ${turnId}: "${input}"`);
  let turn = await call('GET', `/v1/threads/${thread.sessionKey}/turns/${turnId}?wait=25`);
  while (turn.status === 'running' || turn.status === 'queued')
    turn = await call('GET', `/v1/threads/${thread.sessionKey}/turns/${turnId}?wait=25`);
  if (turn.status !== 'succeeded') throw new Error(`the turn ended ${turn.status}: ${turn.error}`);

  console.log('\n== the one coalesced reply ==');
  console.log(turn.reply);

  console.log('\n== child threads (one per sub-agent, bound to this thread) ==');
  for (const sub of turn.subAgents ?? []) {
    const child = await call('GET', `/v1/threads/${encodeURIComponent(sub.sessionKey)}`);
    const ms = Date.parse(sub.endedAt) - Date.parse(sub.startedAt);
    console.log(
      `${child.sessionKey}  agent=${child.agent}  status=${sub.status}  ${ms} ms  parent=${child.lineage.parentSessionKey} depth=${child.lineage.depth}  turns=${child.turnCount}`,
    );
  }

  console.log('\n== audit trail ==');
  for (const sessionKey of [
    thread.sessionKey,
    ...(turn.subAgents ?? []).map((s: { sessionKey: string }) => s.sessionKey),
  ]) {
    const audit = await call('GET', `/v1/threads/${encodeURIComponent(sessionKey)}/audit`);
    console.log(
      `${sessionKey} (hash chain ${audit.verified ? 'verified' : `BROKEN: ${JSON.stringify(audit.problem)}`})`,
    );
    for (const entry of audit.entries)
      console.log(
        `  #${entry.seq} ${entry.at} ${entry.type.padEnd(16)} actor=${entry.actor} ${JSON.stringify(entry.data)}`,
      );
  }
}

main().catch((error: unknown) => {
  console.error(`demo failed: ${(error as Error).message}`);
  process.exit(1);
});
