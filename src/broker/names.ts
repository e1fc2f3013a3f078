// Validation of the names users choose. Topics and channels become part of
// file and metric names, so they are kept to a safe alphabet; bind and route
// keys are free text within a length limit (WILDCARD and REGEX use punctuation).
import { invalid } from "./errors.js";

const NAME = /^[A-Za-z0-9._-]{1,128}$/;
export const MAX_KEY_CHARS = 256;
export const DEFAULT_BIND_KEY = "default";

export function checkTopic(topic: string, what = "topic"): void {
  if (!NAME.test(topic)) {
    throw invalid(
      topic === ""
        ? `${what} is required`
        : `${what} ${JSON.stringify(topic.slice(0, 140))} is invalid: use 1-128 letters, digits, '.', '_' or '-'`,
    );
  }
}

export function checkBindKey(bindKey: string): void {
  if (bindKey === "") throw invalid("bind_key is required");
  if (bindKey.length > MAX_KEY_CHARS) throw invalid(`bind_key is longer than ${MAX_KEY_CHARS} characters`);
  if (/[\u0000-\u001f]/.test(bindKey)) throw invalid("bind_key must not contain control characters");
}

export function checkRouteKey(routeKey: string): void {
  if (routeKey.length > MAX_KEY_CHARS) throw invalid(`route_key is longer than ${MAX_KEY_CHARS} characters`);
}

export function queueName(topic: string, bindKey: string): string {
  return `${topic}_${bindKey}`;
}
