// The engine's types as the extension's features see them: the worker protocol's parameter and
// result types, re-exported here so src/chat and src/completion depend on src/client alone (the
// layer rule in eslint.config.mjs) and never on src/worker or src/engine.
export type {
  ChatGenerateStats,
  ChatMessage,
  ChatPrompt,
  FimTokens,
  GenerateParams,
  GenerateStats,
  ModelInfo,
  ModelShape,
  SamplingOptions,
  Slot,
  TokenizeParams,
  WarmParams,
  WarmResult,
  WarmStats,
} from "../worker/protocol.ts";
