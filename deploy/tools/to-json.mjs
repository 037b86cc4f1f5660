// Multi-document YAML (stdin) to one JSON array of its non-empty documents (stdout), for the .NET deploy tests.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const docs = parseAllDocuments(readFileSync(0, "utf8"));
const errors = docs.flatMap((d) => d.errors);
if (errors.length > 0) {
  console.error(errors.map((e) => e.message).join("\n"));
  process.exit(1);
}
process.stdout.write(JSON.stringify(docs.map((d) => d.toJS()).filter((o) => o !== null && o !== undefined)));
