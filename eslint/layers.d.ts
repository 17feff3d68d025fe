/** Types of ./layers.js, for the test that keeps docs/architecture.md true. */
import type { Rule } from 'eslint'

/** server/'s layers, lowest first. */
export declare const LAYERS: string[][]
/** The rule that enforces them. */
export declare const layers: Rule.RuleModule
