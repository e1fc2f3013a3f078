// Where the proto sources live at run time, for reflection and the gateway.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { ROOT } from "../paths.js";

const require = createRequire(import.meta.url);
export const PROTO_DIR = join(ROOT, "proto");
export const BROKER_PROTO = "gmq/v1/broker.proto";
export const GOOGLE_PROTO_DIR = dirname(require.resolve("google-proto-files/package.json"));
export const PROTO_INCLUDE_DIRS = [PROTO_DIR, GOOGLE_PROTO_DIR];
