// The sample database of `mesh demo --source postgres`: a schema `shop` with customers and their orders,
// seeded on first start, and a workload that inserts, updates and deletes rows at a steady rate, as an
// application would (one statement per transaction).
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';

export const SHOP_DATABASE = 'demo';
export const SHOP_TABLES = ['shop.customers', 'shop.orders'] as const;

const SCHEMA = `
CREATE SCHEMA shop;
CREATE TABLE shop.customers (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name       text NOT NULL,
  email      text NOT NULL,
  country    text NOT NULL,
  profile    jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE shop.orders (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES shop.customers (id),
  status      text NOT NULL,
  total       numeric(10, 2) NOT NULL,
  items       jsonb NOT NULL,
  ordered_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz
);
CREATE INDEX ON shop.orders (customer_id);
`;

const SEED_CUSTOMERS = 40;
const SEED_ORDERS = 120;

const FIRST = ['ada', 'grace', 'alan', 'edsger', 'barbara', 'ken', 'margaret', 'linus', 'radia', 'donald'];
const LAST = ['lovelace', 'hopper', 'turing', 'dijkstra', 'liskov', 'thompson', 'hamilton', 'torvalds'];
const COUNTRIES = ['NL', 'DE', 'FR', 'GB', 'US', 'JP', 'BR', 'IN'];
const PRODUCTS = [
  { sku: 'KB-01', name: 'keyboard', price: 49.9 },
  { sku: 'MS-02', name: 'mouse', price: 19.5 },
  { sku: 'MN-27', name: 'monitor', price: 229 },
  { sku: 'HD-05', name: 'headset', price: 79.99 },
  { sku: 'CB-10', name: 'cable', price: 7.25 },
];
const STATUSES = ['new', 'paid', 'shipped', 'delivered'];

const pick = <T>(values: readonly T[]): T => values[Math.floor(Math.random() * values.length)]!;

function customerRow(): [string, string, string, string] {
  const first = pick(FIRST);
  const last = pick(LAST);
  const name = `${first[0]!.toUpperCase()}${first.slice(1)} ${last[0]!.toUpperCase()}${last.slice(1)}`;
  const email = `${first}.${last}.${Math.floor(Math.random() * 10_000)}@example.com`;
  const profile = { newsletter: Math.random() < 0.5, tier: pick(['bronze', 'silver', 'gold']) };
  return [name, email, pick(COUNTRIES), JSON.stringify(profile)];
}

function orderItems(): { items: string; total: string } {
  const items = Array.from({ length: 1 + Math.floor(Math.random() * 3) }, () => {
    const product = pick(PRODUCTS);
    return {
      sku: product.sku,
      name: product.name,
      qty: 1 + Math.floor(Math.random() * 3),
      price: product.price,
    };
  });
  const total = items.reduce((sum, item) => sum + item.qty * item.price, 0);
  return { items: JSON.stringify(items), total: total.toFixed(2) };
}

/** Creates the database the demo captures, when missing (connected to the `postgres` database). */
export async function ensureShopDatabase(admin: pg.Client): Promise<void> {
  const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [SHOP_DATABASE]);
  if (rowCount === 0) await admin.query(`CREATE DATABASE ${SHOP_DATABASE}`);
}

/** Creates and seeds the shop schema unless it exists; resolves whether it did. */
export async function ensureShopSchema(client: pg.Client): Promise<boolean> {
  const { rows } = await client.query<{ exists: boolean }>(
    "SELECT to_regnamespace('shop') IS NOT NULL AS exists",
  );
  if (rows[0]?.exists) return false;
  await client.query('BEGIN');
  try {
    await client.query(SCHEMA);
    for (let i = 0; i < SEED_CUSTOMERS; i++) {
      await client.query(
        'INSERT INTO shop.customers (name, email, country, profile, created_at) ' +
          'VALUES ($1, $2, $3, $4, now() - make_interval(days => $5::int))',
        [...customerRow(), Math.floor(Math.random() * 365)],
      );
    }
    for (let i = 0; i < SEED_ORDERS; i++) {
      const { items, total } = orderItems();
      await client.query(
        'INSERT INTO shop.orders (customer_id, status, total, items, ordered_at) ' +
          'VALUES ($1, $2, $3, $4, now() - make_interval(hours => $5::int))',
        [1 + Math.floor(Math.random() * SEED_CUSTOMERS), pick(STATUSES), total, items, i * 3],
      );
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
  return true;
}

export interface WorkloadCounts {
  inserts: number;
  updates: number;
  deletes: number;
}

type Change = (client: pg.Client, ids: Ids) => Promise<keyof WorkloadCounts | undefined>;

interface Ids {
  customers: number[];
  orders: number[];
}

/** Removes a random id from the list and returns it (order does not matter). */
function takeRandom(ids: number[]): number | undefined {
  if (ids.length === 0) return undefined;
  const index = Math.floor(Math.random() * ids.length);
  const id = ids[index]!;
  ids[index] = ids[ids.length - 1]!;
  ids.pop();
  return id;
}

const insertCustomer: Change = async (client, ids) => {
  const { rows } = await client.query<{ id: string }>(
    'INSERT INTO shop.customers (name, email, country, profile) VALUES ($1, $2, $3, $4) RETURNING id',
    customerRow(),
  );
  ids.customers.push(Number(rows[0]!.id));
  return 'inserts';
};

const updateCustomer: Change = async (client, ids) => {
  if (ids.customers.length === 0) return undefined;
  const [, email, country] = customerRow();
  await client.query('UPDATE shop.customers SET email = $2, country = $3 WHERE id = $1', [
    pick(ids.customers),
    email,
    country,
  ]);
  return 'updates';
};

const insertOrder: Change = async (client, ids) => {
  if (ids.customers.length === 0) return undefined;
  const { items, total } = orderItems();
  const { rows } = await client.query<{ id: string }>(
    "INSERT INTO shop.orders (customer_id, status, total, items) VALUES ($1, 'new', $2, $3) RETURNING id",
    [pick(ids.customers), total, items],
  );
  ids.orders.push(Number(rows[0]!.id));
  return 'inserts';
};

const updateOrder: Change = async (client, ids) => {
  if (ids.orders.length === 0) return undefined;
  await client.query(
    `UPDATE shop.orders SET status = $2, updated_at = now(),
            total = CASE WHEN random() < 0.2 THEN round(total * 0.9, 2) ELSE total END
      WHERE id = $1`,
    [pick(ids.orders), pick(STATUSES.slice(1))],
  );
  return 'updates';
};

const deleteOrder: Change = async (client, ids) => {
  const id = takeRandom(ids.orders);
  if (id === undefined) return undefined;
  await client.query('DELETE FROM shop.orders WHERE id = $1', [id]);
  return 'deletes';
};

// One round of changes, repeated: every kind shows up within the first few changes of a run.
const ROUND: readonly Change[] = [
  insertOrder,
  updateOrder,
  insertCustomer,
  updateCustomer,
  insertOrder,
  updateOrder,
  deleteOrder,
  updateOrder,
  insertOrder,
  updateCustomer,
];

/**
 * Makes changes at `rate` per second (0: as fast as one connection goes) until stopped. A failure (Postgres
 * went away) stops the workload; `failure` says why.
 */
export class ShopWorkload {
  readonly counts: WorkloadCounts = { inserts: 0, updates: 0, deletes: 0 };
  failure: Error | undefined;
  private stopping = false;
  private readonly done: Promise<void>;
  private readonly client: pg.Client;
  private readonly rate: number;

  private constructor(client: pg.Client, rate: number, ids: Ids) {
    this.client = client;
    this.rate = rate;
    // A connection the server ends between queries is reported here, not by a query.
    client.on('error', (error) => (this.failure ??= error));
    this.done = this.loop(ids).catch((error: Error) => {
      if (!this.stopping) this.failure ??= error;
    });
  }

  /** Starts the workload on a connected client of the shop database (which it ends when stopped). */
  static async start(client: pg.Client, rate: number): Promise<ShopWorkload> {
    const idsOf = async (table: string) =>
      (await client.query<{ id: string }>(`SELECT id FROM ${table}`)).rows.map((r) => Number(r.id));
    const ids = { customers: await idsOf('shop.customers'), orders: await idsOf('shop.orders') };
    return new ShopWorkload(client, rate, ids);
  }

  get total(): number {
    return this.counts.inserts + this.counts.updates + this.counts.deletes;
  }

  /** Finishes the change under way, then ends the connection. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.done;
    await this.client.end().catch(() => undefined);
  }

  private async loop(ids: Ids): Promise<void> {
    const started = Date.now();
    let made = 0;
    let next = 0;
    while (!this.stopping) {
      let due = 100;
      if (this.rate > 0) {
        const expected = Math.floor(((Date.now() - started) / 1000) * this.rate);
        made = Math.max(made, expected - this.rate); // after a stall, catch up at most one second's worth
        due = expected - made;
      }
      if (due <= 0) {
        await sleep(Math.max(5, Math.min(100, 1000 / this.rate)));
        continue;
      }
      for (let i = 0; i < due && !this.stopping; i++) {
        const kind = await ROUND[next++ % ROUND.length]!(this.client, ids);
        if (kind) this.counts[kind]++;
        made++;
      }
    }
  }
}
