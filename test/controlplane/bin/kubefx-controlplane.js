#!/usr/bin/env node
// `kubefx-controlplane build|start` of the published package: the compiled command line.
import "../dist/cli.js"
