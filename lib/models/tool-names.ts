/** Provider tool names allow [A-Za-z0-9_-]: dotted tool names travel with "." as "__". */
export function toProviderToolName(name: string): string {
  return name.replaceAll('.', '__');
}

/** The tool name back from a provider's tool call. */
export function fromProviderToolName(name: string): string {
  return name.replaceAll('__', '.');
}
