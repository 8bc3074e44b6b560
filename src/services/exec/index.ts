export * from "./capture.js";
export * from "./childEnv.js";
export * from "./cwd.js";
export * from "./invocation.js";
export * from "./kill.js";
export * from "./notes.js";
export * from "./run.js";
