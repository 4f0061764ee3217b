// What the live tail shows of an event's check against its type's pinned schema version
// (docs/schemas.md): nothing when no version was pinned. Pure, so node --test covers it.

export function schemaNote(event) {
  if (event.schema_valid === false) {
    return { cls: "schema-invalid", text: "invalid", title: event.schema_error || "Does not match the pinned schema" };
  }
  if (event.schema_valid === true) {
    return { cls: "schema-valid", text: "valid", title: "Matches the pinned schema version" };
  }
  return null;
}
