import { Ajv, type ErrorObject, type Options } from 'ajv';

/** A JSON Schema's check: true when `value` conforms; otherwise `errors` says why (the first is what messages name). */
export interface SchemaCheck<T = unknown> {
  (value: unknown): value is T;
  readonly errors: ErrorObject[] | null | undefined;
}

/**
 * The check for `schema`, compiled when first used rather than when its module loads: compiling every
 * format's schema up front cost each command about 150 ms before it could even print its version.
 * `options` are ajv's (`useDefaults` fills defaults into the value checked).
 */
export function schemaCheck<T = unknown>(schema: object, options: Options = {}): SchemaCheck<T> {
  let compiled: (((value: unknown) => boolean) & { errors?: ErrorObject[] | null }) | undefined;
  const check = (value: unknown): value is T => {
    compiled ??= new Ajv({ strict: false, ...options }).compile(schema);
    return compiled(value);
  };
  return Object.defineProperty(check, 'errors', { get: () => compiled?.errors }) as SchemaCheck<T>;
}
