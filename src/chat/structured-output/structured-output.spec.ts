import { extractJson } from './json-extraction';
import { schemaErrors, schemaProblem } from './json-schema';
import { judgeJsonAnswer, structuredOutputContract } from './structured-output';

const schema = {
  type: 'object',
  properties: { name: { type: 'string' }, age: { type: 'integer' } },
  required: ['name', 'age'],
  additionalProperties: false,
};

describe('extractJson', () => {
  it.each([
    ['{"a":1}', { a: 1 }],
    ['  ```json\n{"a":1}\n```  ', { a: 1 }],
    ['```\n[1,2]\n```', [1, 2]],
    ['Here you go: {"a":{"b":2}} Enjoy!', { a: { b: 2 } }],
  ])('finds the JSON in %j', (text, value) => {
    expect(extractJson(text)).toMatchObject({ ok: true, value });
  });

  it('says why there is none', () => {
    expect(extractJson('')).toEqual({ ok: false, reason: 'the answer is empty' });
    expect(extractJson('{"a": }')).toMatchObject({ ok: false, reason: expect.stringContaining('not valid JSON') });
  });
});

describe('JSON schemas', () => {
  it('reports schema violations with their paths', () => {
    expect(schemaErrors(schema, { name: 'Ann', age: 3 })).toBeNull();
    expect(schemaErrors(schema, { name: 'Ann', age: 'old' })).toContain('/age must be integer');
    expect(schemaErrors(schema, { name: 'Ann', age: 3, x: 1 })).toContain("must NOT have additional properties 'x'");
  });

  it('compiles two equal schemas with the same $id (one per request) without a clash', () => {
    const withId = () => ({ $id: 'https://example.com/person', ...schema });
    expect(schemaProblem(withId())).toBeNull();
    expect(schemaProblem(withId())).toBeNull();
    expect(schemaErrors(withId(), { name: 'Ann', age: 1 })).toBeNull();
  });

  it('tells a broken schema apart from one with unknown keywords', () => {
    expect(schemaProblem({ type: 'object', 'x-extra': true, properties: { d: { type: 'string', format: 'date-time' } } })).toBeNull();
    expect(schemaProblem({ type: 'nonsense' })).toMatch(/not a valid JSON schema/);
    expect(schemaProblem('x')).toBe('must be a JSON schema object');
  });

  it.each([
    ['2020-12', 'https://json-schema.org/draft/2020-12/schema'],
    ['2019-09', 'https://json-schema.org/draft/2019-09/schema'],
    ['draft-07', 'http://json-schema.org/draft-07/schema#'],
    ['draft-06', 'http://json-schema.org/draft-06/schema#'],
    ['draft-04', 'http://json-schema.org/draft-04/schema#'],
    ['an unknown dialect', 'https://example.com/my-meta-schema'],
  ])('compiles and applies a schema declaring $schema %s', (_name, dialect) => {
    const declared = { $schema: dialect, ...schema };
    expect(schemaProblem(declared)).toBeNull();
    expect(schemaErrors(declared, { name: 'Ann', age: 3 })).toBeNull();
    expect(schemaErrors(declared, { name: 'Ann', age: 'old' })).toContain('/age must be integer');
  });

  it("reads each dialect's own keywords", () => {
    // 2020-12 (zod 4's z.toJSONSchema): tuples by prefixItems; draft-04: exclusiveMaximum is a boolean.
    const tuple = {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'array',
      prefixItems: [{ type: 'string' }],
      items: false,
    };
    expect(schemaErrors(tuple, ['a'])).toBeNull();
    expect(schemaErrors(tuple, [1])).toContain('/0 must be string');
    expect(schemaErrors(tuple, ['a', 'b'])).not.toBeNull();
    const below = { $schema: 'http://json-schema.org/draft-04/schema#', type: 'number', maximum: 5, exclusiveMaximum: true };
    expect(schemaErrors(below, 4)).toBeNull();
    expect(schemaErrors(below, 5)).toContain('must be < 5');
  });

  it('still refuses a broken schema whatever it declares', () => {
    expect(schemaProblem({ $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'nonsense' })).toMatch(/not a valid JSON schema/);
  });
});

describe('structured output', () => {
  it('returns the JSON compact, without fences', () => {
    expect(judgeJsonAnswer('```json\n{ "name": "Ann", "age": 3 }\n```', { schema })).toEqual({
      ok: true,
      content: '{"name":"Ann","age":3}',
      toolCalls: [],
    });
  });

  it('asks for a repair when the JSON is broken, not an object, or off-schema', () => {
    for (const [text, format] of [
      ['{"name": "Ann",}', {}],
      ['[1]', {}],
      ['{"name":"Ann"}', { schema }],
    ] as const) {
      const verdict = judgeJsonAnswer(text, format);
      expect(verdict).toMatchObject({ ok: false, code: 'invalid_structured_output' });
      if (!verdict.ok) expect(verdict.correction).toMatch(/Answer again with only the JSON object/);
    }
  });

  it('puts the instruction and schema into system text and holds the answer back', () => {
    const contract = structuredOutputContract([{ role: 'user', content: 'who?' }], { name: 'person', schema });
    expect(contract.messages[0]).toMatchObject({ role: 'system' });
    expect(contract.messages[0].content).toContain('"additionalProperties": false');
    const reader = contract.reader(0);
    expect(reader.push('{"name":"Ann",')).toBe('');
    expect(reader.push('"age":3}')).toBe('');
    expect(reader.end()).toMatchObject({ ok: true, content: '{"name":"Ann","age":3}' });
  });
});
