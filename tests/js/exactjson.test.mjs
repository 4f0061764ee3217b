// The JSON viewer's parser: numbers exactly as stored, everything else as JSON.parse reads it.
import assert from "node:assert/strict";
import test from "node:test";

import { ExactNumber, parse, stringify } from "../../templates/static/js/exactjson.js";

test("it keeps integers beyond 2^53 exactly", () => {
  const value = parse('{"order": 1234567890123456789, "n": [18446744073709551615, -9007199254740993]}');
  assert.ok(value.order instanceof ExactNumber);
  assert.equal(value.order.text, "1234567890123456789");
  assert.deepEqual(value.n.map(String), ["18446744073709551615", "-9007199254740993"]);
});

test("it keeps decimals and exponents as written", () => {
  const value = parse("[1.10, 0.1000000000000000055511151231257827, 1e400, -0, 2.5E-3]");
  assert.deepEqual(value.map(String), ["1.10", "0.1000000000000000055511151231257827", "1e400", "-0", "2.5E-3"]);
});

test("it copies what it shows: stringify writes the numbers back unchanged", () => {
  const text = '{"a":1234567890123456789,"b":[1.10,{"c":null,"d":true,"e":"x\\"y"}],"f":{},"g":[]}';
  assert.equal(stringify(parse(text), 0), text);
  assert.equal(stringify(parse("[1,{\"k\":2}]"), 2), '[\n  1,\n  {\n    "k": 2\n  }\n]');
});

test("it reads strings, escapes and literals as JSON.parse does", () => {
  const text = '{"s": "a\\u00e9\\n\\t\\\\", "t": true, "f": false, "z": null, "u": "✓"}';
  const exact = parse(text);
  const plain = JSON.parse(text);
  for (const key of Object.keys(plain)) assert.equal(exact[key], plain[key]);
});

test("it treats __proto__ as an ordinary key", () => {
  const value = parse('{"__proto__": {"polluted": 1}}');
  assert.equal(Object.keys(value).length, 1);
  assert.equal(value.__proto__.polluted.text, "1");
  assert.equal({}.polluted, undefined);
});

test("it takes nesting of any depth without overflowing the stack", () => {
  const depth = 100000;
  const value = parse("[".repeat(depth) + "7" + "]".repeat(depth));
  let node = value;
  for (let i = 0; i < depth; i++) node = node[0];
  assert.equal(node.text, "7");
});

test("it refuses text that is not JSON, saying where", () => {
  for (const bad of ["", "[1,]", "{\"a\" 1}", "[1 2]", "01", "1.", "'x'", "[1]x", "{\"a\":1,}", "nul", "[", "\"\u0001\""]) {
    assert.throws(() => parse(bad), SyntaxError, bad);
  }
  assert.throws(() => parse("[1,]"), /offset 3/);
});
