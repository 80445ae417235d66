// Renders a conversation into prompt text with the model's own chat template
// (`tokenizer.chat_template`, Jinja, rendered by @huggingface/jinja), falling back to ChatML only
// when the file has none. Lives in the engine (no vscode) so the CLI and the worker share it.
import { Template } from "@huggingface/jinja";

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

export interface RenderOptions {
  /** End with the assistant's turn opened, ready for generation (default true). */
  addGenerationPrompt?: boolean;
  /** Reasoning mode for templates that support it (SmolLM3, Qwen3): `enable_thinking`. */
  enableThinking?: boolean;
  bosToken?: string;
  eosToken?: string;
}

const CHATML = `{%- for message in messages -%}
{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}`;

export class ChatTemplate {
  private readonly template: Template;

  constructor(
    /** The template source; undefined means ChatML. */
    readonly source: string | undefined,
  ) {
    this.template = new Template(source ?? CHATML);
  }

  get isFallback(): boolean {
    return this.source === undefined;
  }

  render(messages: readonly ChatMessage[], options: RenderOptions = {}): string {
    return this.template.render({
      messages: messages.map((m) => ({ role: m.role, content: m.content })),
      add_generation_prompt: options.addGenerationPrompt ?? true,
      enable_thinking: options.enableThinking ?? false,
      bos_token: options.bosToken ?? "",
      eos_token: options.eosToken ?? "",
    });
  }
}
