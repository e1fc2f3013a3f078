#!/usr/bin/env node
// Launcher of the gmq CLI (see launch.js for what it runs).
import { launch } from "./launch.js";

await launch("cli/main");
