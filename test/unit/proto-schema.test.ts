// The build writes the broker proto's descriptors beside dist/api/proto-schema.js
// so a node need not parse the proto at each start: they must be what parsing
// the proto now gives, and the schema built from them the one the gateway uses.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { ensureBuilt } from "../helpers/node-process.js";
import { loadProtoSchema, readProtoDescriptors, schemaOf, type ProtoDescriptors, type ProtoSchema } from "../../src/api/proto-schema.js";

/** What a schema says about its RPCs and every message they reach, as plain data. */
function outline(schema: ProtoSchema): unknown {
  const seen = new Map<string, unknown>();
  const visit = (fullName: string) => {
    if (seen.has(fullName)) return;
    const m = schema.message(fullName);
    const fields: unknown[] = [];
    seen.set(fullName, fields);
    for (const f of m.fields) {
      const { message, enumType, ...plain } = f;
      fields.push({ ...plain, enumValues: enumType ? [...enumType.byName] : undefined });
      if (message) visit(message().fullName);
    }
  };
  const rpcs = schema.rpcs.map((r) => {
    visit(r.requestType.fullName);
    visit(r.responseType.fullName);
    return { ...r, requestType: r.requestType.fullName, responseType: r.responseType.fullName };
  });
  return { rpcs, messages: Object.fromEntries(seen) };
}

describe("broker proto schema written by the build", () => {
  const built = (): ProtoDescriptors => {
    ensureBuilt();
    return JSON.parse(readFileSync(join(import.meta.dirname, "../../dist/api/broker-proto.json"), "utf8")) as ProtoDescriptors;
  };

  it("holds the descriptors parsing the proto gives", () => {
    expect(built()).to.deep.equal(JSON.parse(JSON.stringify(readProtoDescriptors())));
  });

  it("gives the schema parsing the proto gives: every RPC, binding and reachable message", () => {
    const fromBuild = outline(schemaOf(built()));
    expect(fromBuild).to.deep.equal(outline(loadProtoSchema()));
    expect((fromBuild as { rpcs: unknown[] }).rpcs).to.have.length.greaterThan(20);
  });
});
