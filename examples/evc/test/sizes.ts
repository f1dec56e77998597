/**
 * Sizes the EVC's CRD admits and refuses, shared by the unit tests (decoder, CRD pattern,
 * simulated cluster) and the integration test (the real API server).
 */

/** Positive quantities without a sign: every one makes a valid PVC. */
export const admitted = [
  "1G",
  "500Mi",
  "1.5Gi",
  "1e3",
  "10",
  ".5",
  "1.",
  "007",
  "100m",
  "1e-3",
  "2E",
  "3Ei",
  "1E+2"
] as const

/** Zero, negative, signed or malformed: each one the PVC would refuse, or a `+` sign. */
export const refused = [
  "-1",
  "0",
  ".",
  "1iiii",
  "+1G",
  "0.0",
  "0Gi",
  ".0",
  "0e3",
  "-1G",
  "",
  "big",
  "1 G",
  "1K",
  "1e",
  "1.5.5",
  "1Gii"
] as const
