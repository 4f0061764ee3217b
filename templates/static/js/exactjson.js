// JSON as stored, numbers included. `JSON.parse` turns 1234567890123456789 into 1234567890123456800
// and 1.10 into 1.1, which would undo the exactness ingest keeps; this parser keeps every number as
// the text it was written with, so the viewer shows and copies it unchanged.

/** A JSON number kept as its source text. */
export class ExactNumber {
  constructor(text) {
    this.text = text;
  }

  toString() {
    return this.text;
  }
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const SPACE = /[ \t\n\r]*/y;

/**
 * Parse JSON text into plain arrays, objects, strings, booleans and null, with numbers as
 * ExactNumber. Throws SyntaxError, naming the offset, for text that is not JSON. Objects are built
 * without a prototype so that a key such as "__proto__" is an ordinary key.
 */
export function parse(text) {
  let at = 0;

  const fail = (what) => {
    throw new SyntaxError(`${what} at offset ${at}`);
  };
  const space = () => {
    SPACE.lastIndex = at;
    SPACE.test(text);
    at = SPACE.lastIndex;
  };
  const match = (pattern) => {
    pattern.lastIndex = at;
    const found = pattern.exec(text);
    if (!found) return null;
    at = pattern.lastIndex;
    return found[0];
  };
  const literal = (word, value) => {
    if (text.startsWith(word, at)) {
      at += word.length;
      return value;
    }
    return fail("unexpected text");
  };

  // An explicit stack instead of recursion: no nesting depth can overflow the call stack.
  const stack = [];
  let result;

  const place = (value) => {
    const top = stack[stack.length - 1];
    if (!top) result = value;
    else if (Array.isArray(top.container)) top.container.push(value);
    else top.container[top.key] = value;
  };

  // Reads one value; an opening bracket pushes its container and goes on to its first member.
  const value = () => {
    for (;;) {
      space();
      const c = text[at];
      if (c === "{" || c === "[") {
        at += 1;
        const container = c === "{" ? Object.create(null) : [];
        space();
        if (text[at] === (c === "{" ? "}" : "]")) {
          at += 1;
          place(container);
          return;
        }
        stack.push({ container, key: null });
        if (c === "{") key();
        continue;
      }
      if (c === '"') return place(JSON.parse(match(STRING) ?? fail("bad string")));
      if (c === "t") return place(literal("true", true));
      if (c === "f") return place(literal("false", false));
      if (c === "n") return place(literal("null", null));
      const number = match(NUMBER);
      if (number === null) fail(at >= text.length ? "unexpected end" : "unexpected character");
      return place(new ExactNumber(number));
    }
  };

  const key = () => {
    space();
    if (text[at] !== '"') fail("expected a key");
    stack[stack.length - 1].key = JSON.parse(match(STRING) ?? fail("bad key"));
    space();
    if (text[at] !== ":") fail("expected ':'");
    at += 1;
  };

  value();
  // After each value: close containers that end here, or move on to the next member.
  while (stack.length) {
    space();
    const top = stack[stack.length - 1];
    const isArray = Array.isArray(top.container);
    const c = text[at];
    if (c === ",") {
      at += 1;
      if (!isArray) key();
      value();
    } else if (c === (isArray ? "]" : "}")) {
      at += 1;
      stack.pop();
      place(top.container);
    } else {
      fail(at >= text.length ? "unexpected end" : "expected ',' or a closing bracket");
    }
  }
  space();
  if (at !== text.length) fail("unexpected text after the value");
  return result;
}

/** JSON text for a value from `parse` (ExactNumber written as its text), indented by `indent`. */
export function stringify(value, indent = 2) {
  const pad = (depth) => (indent ? "\n" + " ".repeat(indent * depth) : "");
  const colon = indent ? ": " : ":";
  const write = (item, depth) => {
    if (item instanceof ExactNumber) return item.text;
    if (item === null || typeof item !== "object") return JSON.stringify(item) ?? "null";
    if (Array.isArray(item)) {
      if (!item.length) return "[]";
      return "[" + item.map((v) => pad(depth + 1) + write(v, depth + 1)).join(",") + pad(depth) + "]";
    }
    const keys = Object.keys(item);
    if (!keys.length) return "{}";
    return "{" + keys.map((k) => pad(depth + 1) + JSON.stringify(k) + colon + write(item[k], depth + 1)).join(",") +
      pad(depth) + "}";
  };
  return write(value, 0);
}
