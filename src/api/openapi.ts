// An OpenAPI 3.0 document derived from the same route table the gateway
// serves (so the two cannot disagree), with schemas from the proto messages.
import { ERROR_REASONS, ErrorCode } from "../broker/index.js";
import type { FieldSchema, MessageSchema } from "./proto-schema.js";
import type { Route } from "./http-routes.js";

export interface ExtraOperation {
  method: string;
  /** OpenAPI path ("/v1/topics/{topic}/..."). */
  path: string;
  summary: string;
  operationId: string;
  parameters?: { name: string; in: "path" | "query"; schema: object; required?: boolean; description?: string }[];
  responses: Record<string, object>;
  tags?: string[];
}

export interface OpenApiSecurity {
  /** The node was started with --auth-file: every operation not listed as open needs a bearer token. */
  authRequired?: boolean;
  /** RPCs served without a token (Ping). */
  openRpcs?: ReadonlySet<string>;
  /** Paths served without a token (probes, /openapi.json). */
  openPaths?: ReadonlySet<string>;
}

type Obj = Record<string, unknown>;

const schemaRef = (name: string): Obj => ({ $ref: `#/components/schemas/${name}` });

function scalarSchema(f: FieldSchema): Obj {
  switch (f.scalar) {
    case "TYPE_STRING":
      return { type: "string" };
    case "TYPE_BOOL":
      return { type: "boolean" };
    case "TYPE_BYTES":
      return { type: "string", format: "byte" };
    case "TYPE_DOUBLE":
    case "TYPE_FLOAT":
      return { type: "number", format: f.typeName };
    case "TYPE_INT64":
    case "TYPE_UINT64":
    case "TYPE_SINT64":
    case "TYPE_FIXED64":
    case "TYPE_SFIXED64":
      return { type: "string", format: f.typeName, pattern: "^-?[0-9]+$" };
    default:
      return { type: "integer", format: f.typeName.includes("uint") || f.typeName.includes("fixed") ? "int64" : "int32", ...(f.typeName.startsWith("u") || f.typeName === "fixed32" ? { minimum: 0 } : {}) };
  }
}

function fieldSchema(f: FieldSchema): Obj {
  let s: Obj;
  if (f.kind === "message") s = schemaRef(f.typeName);
  else if (f.kind === "enum") s = { type: "string", enum: [...f.enumType!.byName.keys()] };
  else s = scalarSchema(f);
  return f.repeated ? { type: "array", items: s } : s;
}

function collect(schema: MessageSchema, out: Map<string, MessageSchema>): void {
  if (out.has(schema.fullName)) return;
  out.set(schema.fullName, schema);
  for (const f of schema.fields) if (f.kind === "message") collect(f.message!(), out);
}

function messageSchema(m: MessageSchema, omit: Set<string> = new Set()): Obj {
  const properties: Obj = {};
  for (const f of m.fields) if (!omit.has(f.name)) properties[f.jsonName] = fieldSchema(f);
  return { type: "object", properties, additionalProperties: false };
}

/** "/v1/topics/{topic}/queues/{bind_key}:pop" as an OpenAPI path (simple variables only). */
export function openApiPath(template: string): string {
  return template.replace(/\{([^}=]+)(=[^}]*)?\}/g, "{$1}");
}

export function buildOpenApi(
  routes: readonly Route[],
  extra: readonly ExtraOperation[],
  info: { title: string; version: string },
  opts: OpenApiSecurity = {},
): Obj {
  const paths: Record<string, Obj> = {};
  const components = new Map<string, MessageSchema>();
  const errorResponse = { description: "Error", content: { "application/json": { schema: schemaRef("Error") } } };

  for (const r of routes) {
    const req = r.rpc.requestType;
    const parameters: Obj[] = r.variables.map((v) => ({ name: v, in: "path", required: true, schema: { type: "string" } }));
    const pathVars = new Set(r.variables.map((v) => v.split(".")[0]!));
    if (r.body !== "*") {
      for (const f of req.fields) {
        if (pathVars.has(f.name) || f.name === r.body || f.kind === "message") continue;
        parameters.push({ name: f.name, in: "query", required: false, schema: fieldSchema(f), ...(f.repeated ? { style: "form", explode: true } : {}) });
      }
    }
    collect(r.rpc.responseType, components);
    let requestBody: Obj | undefined;
    if (r.body === "*") {
      requestBody = { required: true, content: { "application/json": { schema: messageSchema(req, pathVars) } } };
      for (const f of req.fields) if (f.kind === "message") collect(f.message!(), components);
    } else if (r.body) {
      const f = req.byKey.get(r.body)!;
      if (f.kind === "message") collect(f.message!(), components);
      requestBody = { required: true, content: { "application/json": { schema: fieldSchema(f) } } };
    }
    const op: Obj = {
      operationId: r.rpc.bindings.length > 1 ? `${r.rpc.name}_${r.method}_${openApiPath(r.template)}` : r.rpc.name,
      summary: `${r.rpc.service.split(".").pop()}.${r.rpc.name}`,
      tags: [r.rpc.service],
      parameters,
      ...(requestBody ? { requestBody } : {}),
      ...(opts.openRpcs?.has(r.rpc.name) ? { security: [] } : {}),
      responses: {
        "200": { description: "OK", content: { "application/json": { schema: schemaRef(r.rpc.responseType.fullName) } } },
        default: errorResponse,
      },
    };
    (paths[openApiPath(r.template)] ??= {})[r.method.toLowerCase()] = op;
  }
  for (const e of extra) {
    (paths[e.path] ??= {})[e.method.toLowerCase()] = {
      operationId: e.operationId,
      summary: e.summary,
      tags: e.tags ?? ["operations"],
      parameters: e.parameters ?? [],
      responses: e.responses,
      ...(opts.openPaths?.has(e.path) ? { security: [] } : {}),
    };
  }

  const schemas: Obj = {
    Error: {
      type: "object",
      properties: {
        code: { type: "string", enum: Object.values(ErrorCode), description: "gRPC status code name, e.g. NOT_FOUND" },
        reason: { type: "string", enum: ERROR_REASONS, description: "why, one of gmq.v1.ErrorReason without its prefix, e.g. QUEUE_EMPTY" },
        message: { type: "string" },
        details: {
          type: "array",
          description: "google.rpc.ErrorInfo {@type, reason, domain: gmq.v1, metadata}",
          items: { type: "object" },
        },
      },
    },
  };
  for (const [name, m] of components) schemas[name] = messageSchema(m);
  // A node started with --auth-file wants `authorization: Bearer <token>` on every operation
  // not marked open; without it the scheme is declared and the requirement is optional ({}).
  const bearer = { type: "http", scheme: "bearer", description: "a token from the node's --auth-file (README: Authentication)" };
  return {
    openapi: "3.0.3",
    info,
    security: [{ bearerAuth: [] }, ...(opts.authRequired ? [] : [{}])],
    paths,
    components: { schemas, securitySchemes: { bearerAuth: bearer } },
  };
}
