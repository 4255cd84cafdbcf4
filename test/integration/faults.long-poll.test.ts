// The fault and crash tests of faults.test.ts again, with the relay offering
// long-poll: the daemon's default path against our own relay.
process.env.ARO_FAULTS_LONG_POLL = "1";
await import("./faults.test.js");
