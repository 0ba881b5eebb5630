/** One problem found in the configuration, with the JSON path it was found at. */
export interface ConfigIssue {
  path: string;
  message: string;
}

/** The configuration file is missing, is not JSON, or breaks the schema. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'invalid_config';

  constructor(
    message: string,
    readonly issues: ConfigIssue[] = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
