#!/usr/bin/env node
// `kubefx-controlplane build|start` inside the workspace: the command line's sources, run as they are.
import "../src/cli.ts"
