// The remote engine layer (an inference server as the engine of a role): its public API.
export { RemoteEngine, parseEndpoint, type Generation, type RemoteChatRequest, type RemoteRequestOptions } from "./engine.ts";
export * from "./errors.ts";
export type * from "./types.ts";
