/**
 * Requests and replies matched by id over one message channel, with progress and cancel as
 * messages. The same handler serves both boundaries: the extension (or CLI) ⇄ a worker process,
 * and the extension ⇄ the checkpoint editor's webview. It knows nothing of either transport:
 * it is given a `send` function and fed the messages that arrive.
 */

/** What one side answers: for each method, its parameters, its result and its progress. */
export type Methods = Record<string, { readonly params: unknown; readonly result: unknown; readonly progress?: unknown }>;

/** What one side is told without a reply expected: for each notification, its payload. */
export type Notifications = Record<string, unknown>;

export type ProgressOf<M> = M extends { readonly progress: infer P } ? P : never;

/** Every message on a channel. */
export type RpcMessage =
  | { readonly rpc: 'request'; readonly id: number; readonly method: string; readonly params: unknown }
  | { readonly rpc: 'reply'; readonly id: number; readonly result: unknown }
  | { readonly rpc: 'error'; readonly id: number; readonly name: string; readonly message: string; readonly fields?: ErrorFields }
  | { readonly rpc: 'progress'; readonly id: number; readonly progress: unknown }
  | { readonly rpc: 'cancel'; readonly id: number }
  | { readonly rpc: 'notify'; readonly method: string; readonly params: unknown };

function isRpcMessage(value: unknown): value is RpcMessage {
  return typeof value === 'object' && value !== null && typeof (value as { rpc?: unknown }).rpc === 'string';
}

/** What a method's implementation gets besides its parameters. */
export interface RequestContext<M> {
  /** Aborted when the caller sends `cancel`. */
  readonly signal: AbortSignal;
  readonly progress: (progress: ProgressOf<M>) => void;
}

export type MethodImplementations<Local extends Methods> = {
  readonly [K in keyof Local]: (
    params: Local[K]['params'],
    context: RequestContext<Local[K]>,
  ) => Local[K]['result'] | Promise<Local[K]['result']>;
};

export type NotificationListeners<In extends Notifications> = {
  readonly [K in keyof In]?: (params: In[K]) => void;
};

export interface RequestOptions<P> {
  /** Sends `cancel` when aborted; the promise rejects with the signal's reason unless told otherwise. */
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: P) => void;
  /**
   * When the signal aborts: `reject` (default) rejects at once; `await` only sends `cancel` and
   * waits for the other side's reply (a job that stops at its next step and returns its state).
   */
  readonly onAbort?: 'reject' | 'await';
}

/** An error's own fields that are plain values (a CheckpointError's file, problem and detail). */
export type ErrorFields = Readonly<Record<string, string | number | boolean>>;

/** An error the other side threw, with its name and plain fields kept so callers can tell kinds apart. */
export class RemoteError extends Error {
  constructor(
    name: string,
    message: string,
    readonly fields: ErrorFields = {},
  ) {
    super(message);
    this.name = name;
  }
}

function fieldsOf(error: Error): ErrorFields {
  const fields: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(error))
    if (['string', 'number', 'boolean'].includes(typeof value)) fields[key] = value as string | number | boolean;
  return fields;
}

interface Pending {
  readonly method: string;
  readonly resolve: (result: unknown) => void;
  readonly reject: (error: unknown) => void;
  readonly onProgress?: (progress: never) => void;
  readonly cleanup: () => void;
}

/**
 * One side of a channel. `Local` are the methods this side answers, `Remote` those it calls;
 * `In` and `Out` the notifications it receives and sends.
 */
export class MessageHandler<
  Local extends Methods,
  Remote extends Methods,
  In extends Notifications = Notifications,
  Out extends Notifications = Notifications,
> {
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly running = new Map<number, AbortController>();

  constructor(
    private readonly send: (message: RpcMessage) => void,
    private readonly methods: Partial<MethodImplementations<Local>> = {},
    private readonly listeners: NotificationListeners<In> = {},
  ) {}

  /** Calls `method` on the other side. */
  request<K extends keyof Remote & string>(
    method: K,
    params: Remote[K]['params'],
    options: RequestOptions<ProgressOf<Remote[K]>> = {},
  ): Promise<Remote[K]['result']> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.send({ rpc: 'cancel', id });
        if (options.onAbort !== 'await') {
          this.pending.get(id)?.cleanup();
          reject(signal?.reason);
        }
      };
      const cleanup = () => {
        this.pending.delete(id);
        signal?.removeEventListener('abort', onAbort);
      };
      this.pending.set(id, {
        method,
        resolve: resolve as (result: unknown) => void,
        reject,
        onProgress: options.onProgress as ((progress: never) => void) | undefined,
        cleanup,
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      this.send({ rpc: 'request', id, method, params });
    });
  }

  notify<K extends keyof Out & string>(method: K, params: Out[K]): void {
    this.send({ rpc: 'notify', method, params });
  }

  /** Feeds one arriving message; returns false when it is not one of this channel's. */
  receive(message: unknown): boolean {
    if (!isRpcMessage(message)) return false;
    switch (message.rpc) {
      case 'request':
        void this.answer(message.id, message.method, message.params);
        break;
      case 'cancel':
        this.running.get(message.id)?.abort(new DOMException('cancelled by the caller', 'AbortError'));
        break;
      case 'notify':
        (this.listeners[message.method] as ((params: unknown) => void) | undefined)?.(message.params);
        break;
      case 'progress':
        this.pending.get(message.id)?.onProgress?.(message.progress as never);
        break;
      case 'reply':
      case 'error': {
        const call = this.pending.get(message.id);
        if (!call) break;
        call.cleanup();
        if (message.rpc === 'reply') call.resolve(message.result);
        else call.reject(new RemoteError(message.name, message.message, message.fields));
        break;
      }
    }
    return true;
  }

  /** Rejects every call still waiting (the other side is gone), each with the error `errorFor` its method gives. */
  rejectAll(errorFor: (method: string) => Error): void {
    for (const call of [...this.pending.values()]) {
      call.cleanup();
      call.reject(errorFor(call.method));
    }
  }

  /** How many calls wait for a reply. */
  get waiting(): number {
    return this.pending.size;
  }

  private async answer(id: number, method: string, params: unknown): Promise<void> {
    const implementation = this.methods[method] as ((params: unknown, context: RequestContext<never>) => unknown) | undefined;
    if (!implementation) {
      this.send({ rpc: 'error', id, name: 'Error', message: `unknown method "${method}"` });
      return;
    }
    const abort = new AbortController();
    this.running.set(id, abort);
    try {
      const progress = (p: unknown) => this.send({ rpc: 'progress', id, progress: p });
      const result = await implementation(params, { signal: abort.signal, progress });
      this.send({ rpc: 'reply', id, result });
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
      this.send({ rpc: 'error', id, name: error.name, message: error.message, fields: fieldsOf(error) });
    } finally {
      this.running.delete(id);
    }
  }
}
