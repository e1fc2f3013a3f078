#!/usr/bin/env node
// Launcher of a gmq broker node: registers tsx so the TypeScript sources run as they are.
import { register } from "tsx/esm/api";

register();
await import("../src/main.ts");
