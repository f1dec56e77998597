#!/usr/bin/env node
// `kubefx` inside the workspace: the command's sources, run as they are.
import "../src/main.ts"
