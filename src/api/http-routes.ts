// google.api.http path templates compiled once into a route table:
//   Template = "/" Segments [ ":" Verb ]
//   Segment  = "*" | "**" | LITERAL | "{" FieldPath [ "=" Segments ] "}"
// Each route matches on the raw (still percent-encoded) path, so an encoded
// ":" or "/" inside a variable never reads as the verb or a separator; the
// captured values are decoded afterwards.
import { malformed } from "../broker/index.js";
import type { HttpBinding, RpcSchema } from "./proto-schema.js";

export interface Route {
  rpc: RpcSchema;
  method: HttpBinding["method"];
  /** The template as written in the proto. */
  template: string;
  /** "" (none), "*" or a top-level field name. */
  body: string;
  /** Field paths bound by the template's variables, in capture order. */
  variables: string[];
  regex: RegExp;
  /** Literal characters, for ordering more specific templates first. */
  specificity: number;
}

export type RouteMatch =
  | { kind: "found"; route: Route; values: string[] }
  | { kind: "not-found" }
  | { kind: "method-not-allowed"; allow: string[] };

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

function segmentsRe(segments: string): string {
  return segments
    .split("/")
    .map((s) => (s === "**" ? ".+" : s === "*" ? "[^/]+" : escapeRe(s)))
    .join("/");
}

export function compileTemplate(template: string): CompiledTemplate {
  if (!template.startsWith("/")) throw new Error(`http template ${template} must start with /`);
  const variables: string[] = [];
  let re = "";
  let specificity = 0;
  let i = 0;
  // The verb is a ":" after the last "/" that is not inside a variable.
  let verb = "";
  let depth = 0;
  let verbAt = -1;
  for (let j = 0; j < template.length; j++) {
    const c = template[j];
    if (c === "{") depth++;
    else if (c === "}") depth--;
    else if (c === "/" && depth === 0) verbAt = -1;
    else if (c === ":" && depth === 0) verbAt = j;
  }
  const path = verbAt >= 0 ? template.slice(0, verbAt) : template;
  if (verbAt >= 0) verb = template.slice(verbAt + 1);
  while (i < path.length) {
    const open = path.indexOf("{", i);
    const literal = open < 0 ? path.slice(i) : path.slice(i, open);
    re += segmentsRe(literal);
    specificity += literal.replace(/\*/g, "").length;
    if (open < 0) break;
    const close = path.indexOf("}", open);
    if (close < 0) throw new Error(`http template ${template}: unclosed {`);
    const [field, pattern] = path.slice(open + 1, close).split("=", 2) as [string, string | undefined];
    variables.push(field.trim());
    re += `(${pattern ? segmentsRe(pattern) : "[^/]+"})`;
    i = close + 1;
  }
  if (verb) {
    re += `:${escapeRe(verb)}`;
    specificity += verb.length + 1;
  }
  return { regex: new RegExp(`^${re}$`), variables, specificity };
}

export interface CompiledTemplate {
  regex: RegExp;
  /** Field paths bound by the template's variables, in capture order. */
  variables: string[];
  /** Literal characters, for ordering more specific templates first. */
  specificity: number;
}

export type TemplateMatch<T> =
  | { kind: "found"; value: T; values: string[] }
  | { kind: "not-found" }
  | { kind: "method-not-allowed"; allow: string[] };

/**
 * Compiled templates with a method each, tried most literal text first (so
 * "/x/{id}:pop" wins over "/x/{id}"), in the order added on a tie.
 */
export class TemplateRouter<T> {
  private entries: { method: string; template: CompiledTemplate; value: T }[] = [];

  add(method: string, template: CompiledTemplate, value: T): void {
    this.entries.push({ method, template, value });
    this.entries.sort((a, b) => b.template.specificity - a.template.specificity);
  }

  /** HEAD is served as GET. Throws MALFORMED_REQUEST on a malformed percent-encoding in a variable. */
  match(method: string, rawPath: string): TemplateMatch<T> {
    const wanted = method === "HEAD" ? "GET" : method;
    for (const { method: m, template, value } of this.entries) {
      if (m !== wanted) continue;
      const found = template.regex.exec(rawPath);
      if (!found) continue;
      const values: string[] = [];
      for (let k = 1; k < found.length; k++) {
        try {
          values.push(decodeURIComponent(found[k]!));
        } catch {
          throw malformed(`path variable ${template.variables[k - 1]}: malformed percent-encoding`);
        }
      }
      return { kind: "found", value, values };
    }
    // Not served for this method: the methods it is served for, if any.
    const allow = new Set<string>();
    for (const { method: m, template } of this.entries) if (template.regex.test(rawPath)) allow.add(m);
    return allow.size > 0 ? { kind: "method-not-allowed", allow: [...allow] } : { kind: "not-found" };
  }
}

/** The annotated RPCs' routes (google.api.http rules). */
export class RouteTable {
  readonly routes: Route[];
  private readonly router = new TemplateRouter<Route>();

  constructor(rpcs: readonly RpcSchema[]) {
    const routes: Route[] = [];
    for (const rpc of rpcs) {
      for (const b of rpc.bindings) {
        const { regex, variables, specificity } = compileTemplate(b.path);
        routes.push({ rpc, method: b.method, template: b.path, body: b.body, variables, regex, specificity });
      }
    }
    this.routes = routes.sort((a, b) => b.specificity - a.specificity);
    for (const route of this.routes) this.router.add(route.method, route, route);
  }

  match(method: string, rawPath: string): RouteMatch {
    const m = this.router.match(method, rawPath);
    return m.kind === "found" ? { kind: "found", route: m.value, values: m.values } : m;
  }
}
