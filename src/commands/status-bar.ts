// The status bar item: the model's state (none / loading n% / ready / error), tokens/s of the last
// generation and whether inline completion is on. Clicking it opens the actions quick pick.
// The text comes from status-text.ts (plain data, unit-tested without vscode).
import * as vscode from "vscode";
import { nextStatusView, statusText, type StatusView } from "./status-text.ts";

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem("hearth.status", vscode.StatusBarAlignment.Right, 100);
  private view: StatusView;

  constructor(initial: StatusView, command: string) {
    this.view = initial;
    this.item.name = "Hearth";
    this.item.command = command;
    this.render();
    this.item.show();
  }

  update(change: Partial<StatusView>): void {
    this.view = nextStatusView(this.view, change);
    this.render();
  }

  /** The shown text (for tests). */
  get text(): string {
    return this.item.text;
  }

  private render(): void {
    const { text, tooltip, error } = statusText(this.view);
    this.item.text = text;
    this.item.tooltip = tooltip;
    this.item.accessibilityInformation = { label: text.replace(/\$\([^)]*\)\s*/g, ""), role: "button" };
    this.item.backgroundColor = error ? new vscode.ThemeColor("statusBarItem.errorBackground") : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}
