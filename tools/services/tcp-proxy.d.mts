/**
 * A loopback TCP proxy a test can cut (every connection dropped, nothing listening: a server gone, as in a
 * restart or a network partition) and open again on the same port.
 */
export class TcpProxy {
  /** `port` 0 picks a free one on the first open; later opens reuse it. */
  constructor(port: number, target: { host: string; port: number });
  /** The port the proxy listens on (known after the first open when 0 was given). */
  get port(): number;
  open(): Promise<void>;
  cut(): Promise<void>;
}
