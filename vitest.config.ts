import { defineConfig } from "vitest/config"

/**
 * Two projects: `unit` needs no cluster and runs first; `integration` runs against a real
 * kube-apiserver, etcd and kube-controller-manager built from Go modules (test/controlplane).
 * Run one with `pnpm exec vitest run --project unit`.
 */
export default defineConfig({
  test: {
    // Operators log every step; show a test's output only when it fails.
    silent: "passed-only",
    projects: [
      {
        test: {
          name: "unit",
          // The command's tests start Node processes: slow when the machine is busy.
          testTimeout: 30_000,
          include: ["packages/*/test/**/*.test.ts", "examples/*/test/**/*.test.ts"],
          exclude: ["**/*.integration.test.ts", "**/node_modules/**"]
        }
      },
      {
        test: {
          name: "integration",
          include: ["test/*/test/**/*.test.ts", "**/*.integration.test.ts"],
          exclude: ["**/node_modules/**"],
          globalSetup: ["test/controlplane/src/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          // Each file talks to its own or the shared control plane; two cores, so two at a time.
          maxWorkers: 2
        }
      }
    ]
  }
})
