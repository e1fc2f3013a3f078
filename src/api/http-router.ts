// Every HTTP route of the node in one table, built once at start-up: the
// gateway's RPC routes and the streams (path templates), the operator
// endpoints, the OpenAPI document, the dashboard and the original API (fixed
// paths). A request is one lookup: the fixed path first, then the templates.
import type { IncomingMessage, ServerResponse } from "node:http";
import { TemplateRouter, type CompiledTemplate, type TemplateMatch } from "./http-routes.js";

export interface Endpoint {
  /** Names the route in metrics and logs (the RPC's name, or the path). */
  label: string;
  /** The path template, logged with an internal fault; the label when absent. */
  route?: string;
  /**
   * Serves a matched request: values are the template's decoded variables.
   * Returns the code to record in the latency metric, or undefined to record
   * nothing (streams, probes); throws to answer with an error.
   */
  serve(req: IncomingMessage, res: ServerResponse, values: string[], query: URLSearchParams): Promise<string | undefined> | string | undefined;
}

export class HttpRouter {
  private readonly paths = new Map<string, { methods: readonly string[] | undefined; endpoint: Endpoint }>();
  private readonly templates = new TemplateRouter<Endpoint>();

  /** A fixed path; methods undefined: any method (HEAD is served as GET). */
  path(path: string, methods: readonly string[] | undefined, endpoint: Endpoint): this {
    if (this.paths.has(path)) throw new Error(`http route ${path} is defined twice`);
    this.paths.set(path, { methods, endpoint });
    return this;
  }

  template(method: string, template: CompiledTemplate, endpoint: Endpoint): this {
    this.templates.add(method, template, endpoint);
    return this;
  }

  /** Throws MALFORMED_REQUEST on a malformed percent-encoding in a path variable. */
  match(method: string, rawPath: string): TemplateMatch<Endpoint> {
    const fixed = this.paths.get(rawPath);
    if (fixed) {
      const { methods, endpoint } = fixed;
      const wanted = method === "HEAD" ? "GET" : method;
      if (methods && !methods.includes(wanted)) return { kind: "method-not-allowed", allow: [...methods] };
      return { kind: "found", value: endpoint, values: [] };
    }
    return this.templates.match(method, rawPath);
  }
}
