#!/usr/bin/env node
// Launcher of a gmq broker node (see launch.js for what it runs).
import { launch } from "./launch.js";

await launch("main");
