import { describe, expect, it } from 'vitest';
import { avroType, envelopeSchemas, type Envelope } from '@datamesh/core';
import { envelope, order, ORDER_FIELDS, orders, PRICE_12_50 } from './__fixtures__/orders.js';
import { compileExpression, type CompileOptions } from './compile-expression.js';
import { ExpressionError } from './expression-error.js';

const compile = (expression: string, options?: CompileOptions) =>
  compileExpression(expression, orders.valueSchema, options);

const created = envelope('c', null, order);
const deleted = envelope('d', order, null);

function evaluate(expression: string, event: Envelope = created): unknown {
  return compile(expression).evaluate(event);
}

function compileError(expression: string, options?: CompileOptions): ExpressionError {
  try {
    compile(expression, options);
  } catch (error) {
    expect(error).toBeInstanceOf(ExpressionError);
    return error as ExpressionError;
  }
  throw new Error(`${expression} compiled`);
}

function evaluationError(expression: string, event: Envelope = created): ExpressionError {
  const compiled = compile(expression);
  try {
    compiled.evaluate(event);
  } catch (error) {
    expect(error).toBeInstanceOf(ExpressionError);
    return error as ExpressionError;
  }
  throw new Error(`${expression} evaluated`);
}

describe('Avro types in CEL', () => {
  it.each([
    ['after.id', 'int'],
    ['after.quantity', 'int'],
    ['after.amount', 'double'],
    ['after.status', 'string'],
    ['after.customer_id', 'string'],
    ['after.phone', 'dyn<string>'],
    ['after.paid', 'bool'],
    ['after.tags', 'list<string>'],
    ['after.attrs', 'map<string, string>'],
    ['after.created_at', 'google.protobuf.Timestamp'],
    ['after.shipped_at', 'dyn<google.protobuf.Timestamp>'],
    ['after.due', 'google.protobuf.Timestamp'],
    ['after.price', 'double'],
    ['after.address', 'shop.public.orders.Address'],
    ['after.address.zip', 'dyn<string>'],
    ['after.previous_status', 'dyn<string>'],
    ['after.blob', 'bytes'],
    ['after.note', 'dyn'],
    ['op', 'string'],
    ['ts_ms', 'int'],
    ['source.table', 'dyn<string>'],
    ['after', 'shop.public.orders.Value'],
  ])('%s is a %s', (expression, type) => {
    expect(compile(expression).celType).toBe(type);
  });

  it('computes with ints as CEL does (64-bit, integer division) and gives numbers back', () => {
    expect(evaluate('after.id * 1000 + after.quantity')).toBe(7003);
    expect(evaluate('after.quantity / 2')).toBe(1);
    expect(evaluate('ts_ms - source.ts_ms')).toBe(500);
  });

  it('refuses an int result that a number cannot hold exactly', () => {
    const error = evaluationError('after.id * 9000000000000000');
    expect(error.message).toMatch(/63000000000000000 is outside the range/);
  });

  it('reads decimals as doubles, timestamps and dates as timestamps, enums and uuids as strings', () => {
    expect(evaluate('after.price')).toBe(12.5);
    expect(evaluate('after.created_at.getHours()')).toBe(14);
    expect(evaluate('after.due == timestamp("2024-02-07T00:00:00Z")')).toBe(true);
    expect(evaluate('after.created_at < after.due')).toBe(true);
    expect(evaluate('after.status == "PAID" && after.previous_status == "NEW"')).toBe(true);
    expect(evaluate('after.customer_id.startsWith("3f2c")')).toBe(true);
    expect(evaluate('int(after.created_at)')).toBe(Date.UTC(2024, 0, 15, 14, 30) / 1000);
  });

  it('reads negative decimals and micro-second timestamps', () => {
    const event = envelope('c', null, {
      ...order,
      price: Buffer.from([0xfb, 0x1e]),
      shipped_at: 1_705_329_000_123_456,
    });
    expect(evaluate('after.price', event)).toBe(-12.5);
    expect(evaluate('after.shipped_at', event)).toBe(1_705_329_000_123);
  });

  it('works with lists, maps, bytes and nested records', () => {
    expect(evaluate('"gift" in after.tags && after.tags.exists(t, t.startsWith("exp"))')).toBe(true);
    expect(evaluate('after.attrs["color"]')).toBe('red');
    expect(evaluate('size(after.blob)')).toBe(2);
    expect(evaluate('after.address.city + "/" + string(size(after.tags))')).toBe('Lyon/2');
  });

  it('gives timestamps back as epoch milliseconds', () => {
    expect(evaluate('after.created_at + duration("1h")')).toBe(Date.UTC(2024, 0, 15, 15, 30));
  });
});

describe('null', () => {
  it('lets nullable fields be compared with null', () => {
    const phone = compile('after.phone != null && after.phone.startsWith("+44")');
    expect(phone.evaluate(created)).toBe(false);
    expect(phone.evaluate(envelope('c', null, { ...order, phone: '+44 20 7946 0000' }))).toBe(true);
    expect(evaluate('after.phone == null ? "none" : after.phone')).toBe('none');
    expect(evaluate('after.shipped_at == null && after.address.zip == null')).toBe(true);
  });

  it('treats a missing nullable field as null', () => {
    const { phone: _phone, ...withoutPhone } = order;
    expect(evaluate('after.phone == null', envelope('c', null, withoutPhone))).toBe(true);
  });

  it('lets the row images be compared with null', () => {
    expect(evaluate('after == null', deleted)).toBe(true);
    expect(evaluate('before != null && after == null', deleted)).toBe(true);
    expect(evaluate('null == before', created)).toBe(true);
  });

  it('says which image is null when a delete reads a field of after', () => {
    const error = evaluationError('after.amount > 100.0', deleted);
    expect(error.kind).toBe('evaluation');
    expect(error.code).toBe('null_record');
    expect(error.message).toBe(
      'after is null (deletes and truncates have no "after" image), so after.amount cannot be read',
    );
  });

  it('lets || and && absorb a null image, as CEL does with errors', () => {
    expect(evaluate('op == "d" || after.amount > 100.0', deleted)).toBe(true);
    expect(evaluate('after.amount > 100.0 || op == "d"', deleted)).toBe(true);
    expect(evaluate('after != null && after.amount > 100.0', deleted)).toBe(false);
  });

  it('refuses to compare a field that is never null with null, and says why', () => {
    const error = compileError('after.amount != null');
    expect(error.message).toContain(
      'no such overload: double != null (a double is never null: its Avro type is not nullable)',
    );
  });

  it('says a null reached an operator when a nullable field is used unguarded', () => {
    const error = evaluationError('after.phone + "!"');
    expect(error.summary).toMatch(/no such overload: .*null.*\(a null value reached an operator: guard it/);
  });

  it('gives null results back as null', () => {
    expect(evaluate('after.phone')).toBeNull();
    expect(evaluate('after.address.zip')).toBeNull();
  });
});

describe('row', () => {
  it('is after, or before for a delete, in the event scope', () => {
    const region = compile('row.address.city == "Lyon"');
    expect(region.evaluate(created)).toBe(true);
    expect(region.evaluate(deleted)).toBe(true);
    expect(region.inputFields).toEqual(['after.address.city', 'before.address.city']);
  });

  it('is null for a truncate', () => {
    const error = evaluationError('row.amount > 1.0', envelope('t', null, null));
    expect(error.message).toContain('row is null (a truncate has no row image)');
  });

  it('is the image given to evaluate in the row scope, where before and after are not variables', () => {
    const total = compile('row.amount * double(row.quantity)', { scope: 'row' });
    const updated = envelope('u', { ...order, quantity: 1 }, order);
    expect(total.evaluate(updated, updated.before)).toBeCloseTo(129.9);
    expect(total.evaluate(updated, updated.after)).toBeCloseTo(389.7);
    const error = compileError('after.amount', { scope: 'row' });
    expect(error.code).toBe('unknown_variable');
    expect(error.message).toContain('the expression can use row, op, ts_ms, source');
  });
});

describe('fields read', () => {
  it('lists the paths the expression reads, as written and as envelope fields', () => {
    const compiled = compile(
      'op != "d" && after.amount > 10.0 && source.table == "orders" && row.quantity > 1',
    );
    expect(compiled.reads).toEqual(['after.amount', 'op', 'row.quantity', 'source.table']);
    expect(compiled.inputFields).toEqual([
      'after.amount',
      'after.quantity',
      'before.quantity',
      'op',
      'source.table',
    ]);
  });

  it('stops a path at a list or a map, and reads a record used whole as all its fields', () => {
    expect(compile('after.tags[0] == "x" && after.attrs.color == "red"').reads).toEqual([
      'after.attrs',
      'after.tags',
    ]);
    expect(compile('after["amount"] > 1.0').reads).toEqual(['after.amount']);
    expect(compile('after.address != null').reads).toEqual(['after.address']);
    const whole = compile('before == null');
    expect(whole.reads).toEqual(['before']);
    expect(whole.inputFields).toEqual(ORDER_FIELDS.map((f) => `before.${f.name}`).sort());
  });

  it('does not take comprehension and bound variables for fields', () => {
    const compiled = compile(
      'after.tags.exists(after, after == "gift") && cel.bind(op, after.quantity, op > 1) && has(after.address.city)',
    );
    expect(compiled.reads).toEqual(['after.address.city', 'after.quantity', 'after.tags']);
  });

  it('converts only the fields it reads', () => {
    // A long that is not an integer would fail conversion; the expression never reads it.
    const odd = envelope('c', null, { ...order, id: 1.5 });
    expect(evaluate('after.amount > 100.0', odd)).toBe(true);
    expect(evaluationError('after.id > 1', odd).kind).toBe('evaluation');
  });

  it('returns a record as its Avro value, untouched', () => {
    expect(evaluate('after.address')).toBe(order['address']);
    expect(evaluate('op == "d" ? before : after', deleted)).toBe(order);
  });
});

describe('result schema', () => {
  const schemaOf = (expression: string, options?: CompileOptions) =>
    compile(expression, options).resultSchema();

  it.each([
    ['after.amount > 1.0', 'boolean'],
    ['after.id + 1', 'long'],
    ['after.amount * 1.2', 'double'],
    ['after.price', 'double'],
    ['string(after.id)', 'string'],
    ['after.blob', 'bytes'],
    ['after.phone', ['null', 'string']],
    ['after.created_at', { type: 'long', logicalType: 'timestamp-millis' }],
    ['after.tags', { type: 'array', items: 'string' }],
    ['after.attrs', { type: 'map', values: 'string' }],
    ['[after.id, after.quantity]', { type: 'array', items: 'long' }],
  ])('of %s is %j', (expression, schema) => {
    expect(schemaOf(expression)).toEqual(schema);
  });

  it('of a record is the nullable record, defined once', () => {
    const defined = new Set<string>();
    const schema = compile('after.address').resultSchema(defined);
    expect(schema).toEqual([
      'null',
      {
        type: 'record',
        name: 'shop.public.orders.Address',
        fields: [
          { name: 'city', type: 'string' },
          { name: 'zip', type: ['null', 'string'], default: null },
        ],
      },
    ]);
    expect(() => avroType(schema)).not.toThrow();
    expect(compile('before.address').resultSchema(defined)).toEqual(['null', 'shop.public.orders.Address']);
  });

  it('is refused for results whose type is known only at evaluation, or has no Avro type', () => {
    expect(() => schemaOf('after.note')).toThrow(
      /the result is a dyn, whose type is known only at evaluation/,
    );
    expect(() => schemaOf('duration("1h")')).toThrow(/a duration has no Avro type here/);
    expect(() => schemaOf('{1: "a"}')).toThrow(/Avro map keys are strings/);
  });
});

describe('errors', () => {
  it('locate a type error at its operator, with a caret excerpt', () => {
    const error = compileError('after.amount > "x"');
    expect(error.kind).toBe('type');
    expect(error.code).toBe('no_such_overload');
    expect([error.line, error.column]).toEqual([1, 14]);
    expect(error.message).toBe(
      [
        'no such overload: double > string, at line 1, column 14:',
        '  1 | after.amount > "x"',
        '    |              ^',
      ].join('\n'),
    );
  });

  it('locate a syntax error on the line it is on', () => {
    const error = compileError('op == "u" &&\n  after.amount >');
    expect(error.kind).toBe('syntax');
    expect([error.line, error.column]).toEqual([2, 17]);
    expect(error.message).toContain(
      'Unexpected token: EOF, at line 2, column 17:\n  2 |   after.amount >\n    |                 ^',
    );
  });

  it('name the fields of a record that has no such field', () => {
    const error = compileError('after.amout > 1.0');
    expect(error.code).toBe('no_such_key');
    expect(error.column).toBe(7);
    expect(error.message).toMatch(/^No such key: amout; after has the fields id, quantity, amount, status,/);
    expect(error.message).toContain('    |       ^~~~~');
  });

  it('name the variables for an unknown one', () => {
    expect(compileError('total > 1').message).toMatch(
      /^Unknown variable: total; the expression can use before, after, row, op, ts_ms, source, at line 1, column 1/,
    );
  });

  it('say when the result has another type than the one asked for', () => {
    const error = compileError('after.amount + 1.0', { resultType: 'bool' });
    expect(error.code).toBe('result_type');
    expect(error.message).toMatch(
      /^the expression must give a bool, but gives a double, at line 1, column 1:/,
    );
  });

  it('accept a nullable result of the type asked for', () => {
    const schemas = envelopeSchemas({
      name: 'shop.flags',
      keyFields: ['id'],
      fields: [
        { name: 'id', type: 'long' },
        { name: 'on', type: ['null', 'boolean'], default: null },
      ],
    });
    expect(compileExpression('after.on', schemas.valueSchema, { resultType: 'bool' }).celType).toBe(
      'dyn<bool>',
    );
  });

  it('locate an evaluation error', () => {
    const error = evaluationError('after.quantity / (after.quantity - 3) > 1');
    expect(error.kind).toBe('evaluation');
    expect(error.code).toBe('division_by_zero');
    expect(error.message).toMatch(/^division by zero, at line 1, column 16:/);
  });
});

describe('safety', () => {
  it('has no way out of the expression: no undeclared names, no host functions', () => {
    expect(compileError('process').code).toBe('unknown_variable');
    expect(compileError('globalThis.process.exit(1)').code).toBe('unknown_variable');
    expect(compileError('after.constructor').code).toBe('no_such_key');
  });

  it('compiles schemas with recursive records', () => {
    const tree = envelopeSchemas({
      name: 'shop.categories',
      keyFields: ['id'],
      fields: [
        { name: 'id', type: 'long' },
        {
          name: 'parent',
          type: [
            'null',
            {
              type: 'record',
              name: 'Node',
              fields: [
                { name: 'name', type: 'string' },
                { name: 'up', type: ['null', 'Node'] },
              ],
            },
          ] as never,
          default: null,
        },
      ],
    });
    const compiled = compileExpression('after.parent.up.name', tree.valueSchema);
    expect(compiled.celType).toBe('string');
    const row = { id: 1, parent: { name: 'a', up: { name: 'b', up: null } } };
    expect(
      compiled.evaluate({
        before: null,
        after: row,
        op: 'c',
        ts_ms: 1,
        source: { connector: 'x', name: 'x', ts_ms: 1, snapshot: 'false' },
      }),
    ).toBe('b');
    expect(
      compileExpression('after.parent', tree.valueSchema).evaluate({
        before: null,
        after: row,
        op: 'c',
        ts_ms: 1,
        source: { connector: 'x', name: 'x', ts_ms: 1, snapshot: 'false' },
      }),
    ).toBe(row.parent);
  });

  it('leaves the event it evaluates as it was', () => {
    const event = envelope('u', order, { ...order, price: PRICE_12_50 });
    const copy = JSON.stringify(event);
    compile('row.price > 1.0 && before.address.city == after.address.city && after.tags.size() > 0').evaluate(
      event,
    );
    expect(JSON.stringify(event)).toBe(copy);
  });
});
