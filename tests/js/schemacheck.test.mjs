// The live tail's note on an event checked against a pinned schema version.
import assert from "node:assert/strict";
import test from "node:test";

import { schemaNote } from "../../templates/static/js/schemacheck.js";

test("an event that failed the check says so, with the reason as its title", () => {
  const note = schemaNote({ schema_valid: false, schema_error: "version 1: /amount: string, expected integer" });
  assert.equal(note.cls, "schema-invalid");
  assert.equal(note.text, "invalid");
  assert.equal(note.title, "version 1: /amount: string, expected integer");
});

test("a valid event is marked valid, an unchecked one not at all", () => {
  assert.equal(schemaNote({ schema_valid: true, schema_error: null }).text, "valid");
  assert.equal(schemaNote({ schema_valid: null, schema_error: null }), null);
  assert.equal(schemaNote({}), null);
});
