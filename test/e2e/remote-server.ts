// The inference server of the remote-engine e2e suite (issue 17): test/helpers/openai-server.ts
// (llama.cpp through node-llama-cpp, greedy) with stories260K behind it, speaking the OpenAI-style
// routes as vLLM or Ollama's /v1 do (the fixture has no FIM tokens, so not /infill). It runs here,
// in the runner, outside the extension host; the suite gets its URL and what its model produces
// for the suite's requests through e2e.json. The expectations are asked of the server with plain
// HTTP (not src/remote), with the requests the extension will send: the ghost text and the chat
// reply in VS Code must equal them. Afterwards `check` reads the server's request log: the
// completion and chat requests came in, and none of the local-role steps' text reached it.
import { maxNewTokens } from "../../src/completion/config.ts";
import { startOpenAiServer, type OpenAiTestServer } from "../helpers/openai-server.ts";

export interface RemoteE2e {
  url: string;
  /** /v1/models id. */
  model: string;
  /** Typed in a plain-text file while completion is remote (one line: maxLines 1). */
  completionPrompt: string;
  /** The server's greedy text for it (stop "\n", the single-line token limit). */
  completionExpected: string;
  /** Asked while chat is remote, with `chatSystem` as hearth.chat.systemPrompt and `chatMaxTokens` as hearth.chat.maxTokens. */
  chatQuestion: string;
  chatSystem: string;
  chatMaxTokens: number;
  chatExpected: string;
  /** Asked of the local chat while completion is remote: must never reach the server. */
  localChatQuestion: string;
}

const COMPLETION_PROMPT = "Lily wanted to";
const SYSTEM = "You tell short stories.";
const QUESTION = "Tell me about a cat.";
const LOCAL_QUESTION = "Hello from the local chat.";
const CHAT_MAX_TOKENS = 32;

export async function startRemoteServer(modelPath: string): Promise<{ server: OpenAiTestServer; remote: RemoteE2e }> {
  const server = await startOpenAiServer({ modelPath, flavor: "openai", alias: "stories", contextSize: 512 });
  try {
    const completionExpected = await streamed(`${server.url}/v1/completions`, {
      model: "stories",
      prompt: COMPLETION_PROMPT,
      max_tokens: maxNewTokens(true, 1),
      temperature: 0,
      stop: ["\n"],
      stream: true,
    }, (j) => j.choices?.[0]?.text);
    const chatExpected = await streamed(`${server.url}/v1/chat/completions`, {
      model: "stories",
      messages: [
        { role: "system", content: SYSTEM },
        { role: "user", content: QUESTION },
      ],
      max_tokens: CHAT_MAX_TOKENS,
      temperature: 0,
      stream: true,
      chat_template_kwargs: { enable_thinking: false },
    }, (j) => j.choices?.[0]?.delta?.content);
    server.requests.length = 0; // the log is for what the extension sends
    return {
      server,
      remote: { url: server.url, model: "stories", completionPrompt: COMPLETION_PROMPT, completionExpected, chatQuestion: QUESTION, chatSystem: SYSTEM, chatMaxTokens: CHAT_MAX_TOKENS, chatExpected, localChatQuestion: LOCAL_QUESTION },
    };
  } catch (err) {
    await server.close();
    throw err;
  }
}

/** The server's request log after the suites: what reached it, as check lines; throws if something is wrong. */
export function checkRemoteRequests(server: OpenAiTestServer, remote: RemoteE2e): string[] {
  const lines: string[] = [];
  const completions = server.requests.filter((r) => r.path === "/v1/completions");
  const chats = server.requests.filter((r) => r.path === "/v1/chat/completions");
  lines.push(`server log: ${server.requests.map((r) => `${r.method} ${r.path} ${r.status}`).join(", ")}`);
  if (!completions.some((r) => r.body?.prompt === remote.completionPrompt)) throw new Error(`no /v1/completions request with the prompt ${JSON.stringify(remote.completionPrompt)}`);
  const asked = chats.map((r) => JSON.stringify(r.body?.messages));
  if (!asked.some((m) => m.includes(remote.chatQuestion))) throw new Error("the remote chat question did not reach the server");
  if (asked.some((m) => m.includes(remote.localChatQuestion))) throw new Error("the local chat's question reached the server");
  if (completions.some((r) => String(r.body?.prompt).startsWith("Once upon a time"))) throw new Error("a local-role completion reached the server");
  lines.push(`${completions.length} completion request(s) and ${chats.length} chat request(s) reached the server; none from the local roles`);
  return lines;
}

/** POSTs `body` and joins the text `pick` finds in each SSE event. */
async function streamed(url: string, body: unknown, pick: (j: { choices?: { text?: string; delta?: { content?: string | null } }[] }) => string | null | undefined): Promise<string> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${await res.text()}`);
  let text = "";
  // One event per blank-line-separated block; its data lines joined with "\n" (the SSE rule).
  for (const block of (await res.text()).split("\n\n")) {
    const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
    if (!data || data === "[DONE]") continue;
    text += pick(JSON.parse(data)) ?? "";
  }
  return text;
}
