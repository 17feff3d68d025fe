/**
 * The Standard Schema v1 interface (https://standardschema.dev), copied as its spec asks:
 * the client validates rows with zod, valibot, arktype or any other implementation
 * without depending on one. Types only; nothing here reaches the bundle.
 */

/** A validator that implements Standard Schema v1. */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': StandardSchemaV1.Props<Input, Output>
}

// The spec's own shape: a declaration-only namespace, so `StandardSchemaV1.InferOutput`
// reads as it does in every library that implements it.
// eslint-disable-next-line @typescript-eslint/no-namespace
export declare namespace StandardSchemaV1 {
  /** The `~standard` property. */
  export interface Props<Input = unknown, Output = Input> {
    readonly version: 1
    readonly vendor: string
    readonly validate: (value: unknown) => Result<Output> | Promise<Result<Output>>
    readonly types?: Types<Input, Output> | undefined
  }

  /** What `validate` returns. */
  export type Result<Output> = SuccessResult<Output> | FailureResult

  /** A value that passed. */
  export interface SuccessResult<Output> {
    readonly value: Output
    readonly issues?: undefined
  }

  /** A value that did not. */
  export interface FailureResult {
    readonly issues: ReadonlyArray<Issue>
  }

  /** One problem with a value. */
  export interface Issue {
    readonly message: string
    readonly path?: ReadonlyArray<PropertyKey | PathSegment> | undefined
  }

  /** A step of an issue's path. */
  export interface PathSegment {
    readonly key: PropertyKey
  }

  /** The input and output types a schema carries. */
  export interface Types<Input = unknown, Output = Input> {
    readonly input: Input
    readonly output: Output
  }

  /** A schema's input type. */
  export type InferInput<Schema extends StandardSchemaV1> = NonNullable<
    Schema['~standard']['types']
  >['input']

  /** A schema's output type. */
  export type InferOutput<Schema extends StandardSchemaV1> = NonNullable<
    Schema['~standard']['types']
  >['output']
}
