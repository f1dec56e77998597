#!/usr/bin/env node
// `kubefx` of the published package: the compiled command.
import "../dist/main.js"
