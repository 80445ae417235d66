// The completion settings as plain data (read from `hearth.completion.*` with every other setting
// in src/commands/settings.ts, which imports this file: keep it free of imports), their defaults,
// and how the token budgets are fitted into the model's context.

export interface CompletionSettings {
  /** `hearth.completion.enabled` (the global switch the status bar toggles). */
  enabled: boolean;
  /** `hearth.completion.languages`: language id → on/off; "*" for the rest. */
  languages: Readonly<Record<string, boolean>>;
  debounceMs: number;
  adaptiveDebounce: boolean;
  /** 1: single-line suggestions only. */
  maxLines: number;
  prefixTokens: number;
  suffixTokens: number;
  /** Other open files and recent edits; 0 turns them off. */
  extraContextTokens: number;
  /** Show an unfinished first line after this long. */
  firstLineMs: number;
}

export const DEFAULTS: CompletionSettings = {
  enabled: true,
  languages: { "*": true, scminput: false },
  debounceMs: 75,
  adaptiveDebounce: true,
  maxLines: 8,
  prefixTokens: 1024,
  suffixTokens: 64,
  extraContextTokens: 512,
  firstLineMs: 300,
};

export function languageEnabled(s: CompletionSettings, languageId: string): boolean {
  if (!s.enabled) return false;
  return s.languages[languageId] ?? s.languages["*"] ?? true;
}

/** Tokens a completion may generate: a line, or `maxLines` lines of code. */
export function maxNewTokens(singleLine: boolean, maxLines: number): number {
  return singleLine ? 64 : Math.min(512, 48 * maxLines);
}

export interface Budgets {
  prefix: number;
  suffix: number;
  extra: number;
}

/**
 * The budgets, shrunk to fit in `available` tokens (context minus the tokens to generate and the
 * template's markers): extra context gives way first, then prefix and suffix in proportion.
 */
export function fitBudgets(want: Budgets, available: number): Budgets {
  const room = Math.max(0, Math.floor(available));
  const local = want.prefix + want.suffix;
  if (local + want.extra <= room) return { ...want };
  if (local <= room) return { ...want, extra: room - local };
  const scale = room / Math.max(1, local);
  return { prefix: Math.floor(want.prefix * scale), suffix: Math.floor(want.suffix * scale), extra: 0 };
}
