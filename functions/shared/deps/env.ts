/** A variable the function cannot work without (set by CDK and by the local stack). */
export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

/** The table every function works on. */
export function tableName(): string {
  return requiredEnv('TABLE_NAME');
}
