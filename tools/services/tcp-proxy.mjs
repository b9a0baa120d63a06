import { createServer, connect } from 'node:net';

/**
 * A loopback TCP proxy a test can cut (every connection dropped, nothing listening: a server gone, as in a
 * restart or a network partition) and open again on the same port.
 */
export class TcpProxy {
  /** @type {import('node:net').Server | undefined} */
  #server;
  #sockets = new Set();
  #listenPort;
  #target;

  /** `port` 0 picks a free one on the first open; later opens reuse it. */
  constructor(port, target) {
    this.#listenPort = port;
    this.#target = target;
  }

  /** The port the proxy listens on (known after the first open when 0 was given). */
  get port() {
    return this.#listenPort;
  }

  async open() {
    const server = createServer((client) => {
      const upstream = connect(this.#target);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#listenPort, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (address && typeof address === 'object') this.#listenPort = address.port;
    this.#server = server;
  }

  async cut() {
    const server = this.#server;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    if (server) await new Promise((resolve) => server.close(resolve));
  }
}
