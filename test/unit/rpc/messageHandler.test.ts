import { strict as assert } from 'node:assert';
import { MessageHandler, RemoteError, type RpcMessage } from '../../../src/rpc/messageHandler';

type Server = {
  add: { params: { a: number; b: number }; result: number };
  count: { params: { to: number }; result: string; progress: number };
  fail: { params: null; result: null };
};
type ToClient = { hello: { name: string } };
type ToServer = { ping: number };

/** Two handlers joined back to back; messages cross asynchronously (as over a process or frame), and every one is logged. */
function pair() {
  const log: RpcMessage[] = [];
  const pings: number[] = [];
  const hellos: string[] = [];
  const client = new MessageHandler<Record<never, never>, Server, ToClient, ToServer>(
    (m) => {
      log.push(m);
      setImmediate(() => serverSide.receive(structuredClone(m)));
    },
    {},
    { hello: ({ name }) => hellos.push(name) },
  );
  const serverSide = new MessageHandler<Server, Record<never, never>, ToServer, ToClient>(
    (m) => {
      log.push(m);
      setImmediate(() => client.receive(structuredClone(m)));
    },
    {
      add: ({ a, b }) => a + b,
      async count({ to }, { signal, progress }) {
        for (let i = 1; i <= to; i++) {
          if (signal.aborted) return `stopped at ${i - 1}`;
          progress(i);
          await new Promise((r) => setTimeout(r, 5));
        }
        return `counted to ${to}`;
      },
      fail: () => {
        throw new RangeError('no such thing');
      },
    },
    { ping: (n) => pings.push(n) },
  );
  return { client, server: serverSide, log, pings, hellos };
}

describe('rpc: requests and replies matched by id', () => {
  it('replies reach the request that asked, whatever their order', async () => {
    const { client } = pair();
    const results = await Promise.all([
      client.request('add', { a: 1, b: 2 }),
      client.request('add', { a: 10, b: 20 }),
      client.request('add', { a: -1, b: 1 }),
    ]);
    assert.deepEqual(results, [3, 30, 0]);
    assert.equal(client.waiting, 0);
  });

  it('progress arrives before the reply, as messages of the same id', async () => {
    const { client, log } = pair();
    const seen: number[] = [];
    assert.equal(await client.request('count', { to: 4 }, { onProgress: (p) => seen.push(p) }), 'counted to 4');
    assert.deepEqual(seen, [1, 2, 3, 4]);
    const ids = new Set(log.filter((m) => m.rpc === 'progress' || m.rpc === 'reply').map((m) => (m as { id: number }).id));
    assert.equal(ids.size, 1);
  });

  it('cancel is a message: `await` gets the method’s own answer, the default rejects at once', async () => {
    const { client, log } = pair();
    const abort = new AbortController();
    const answer = await client.request(
      'count',
      { to: 1000 },
      { signal: abort.signal, onAbort: 'await', onProgress: (p) => p === 3 && abort.abort() },
    );
    assert.match(answer, /^stopped at [3-9]$/);
    assert.ok(log.some((m) => m.rpc === 'cancel'));
    const second = new AbortController();
    const pending = client.request('count', { to: 1000 }, { signal: second.signal });
    second.abort(new Error('user cancelled'));
    await assert.rejects(pending, /user cancelled/);
    assert.equal(client.waiting, 0);
  });

  it('errors keep their name; unknown methods are errors, not silence', async () => {
    const { client } = pair();
    await assert.rejects(
      client.request('fail', null),
      (e: unknown) => e instanceof RemoteError && e.name === 'RangeError' && e.message === 'no such thing',
    );
    const untyped = client as unknown as MessageHandler<Record<never, never>, { nope: { params: null; result: null } }>;
    await assert.rejects(untyped.request('nope', null), /unknown method "nope"/);
  });

  it('notifications go both ways; foreign messages are not taken', async () => {
    const { client, server, pings, hellos } = pair();
    client.notify('ping', 7);
    server.notify('hello', { name: 'editor' });
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(pings, [7]);
    assert.deepEqual(hellos, ['editor']);
    assert.equal(client.receive({ type: 'init' }), false);
    assert.equal(client.receive(null), false);
  });

  it('when the other side is gone, every waiting call is rejected with the error for its method', async () => {
    const stuck = new MessageHandler<Record<never, never>, Server>(() => undefined);
    const a = stuck.request('add', { a: 1, b: 1 });
    const b = stuck.request('count', { to: 1 });
    stuck.rejectAll((method) => new Error(`${method} lost`));
    await assert.rejects(a, /add lost/);
    await assert.rejects(b, /count lost/);
  });
});
