/** Types of eslint.layers.js (the layer rule's data, shared by eslint.config.js and the tests). */
export declare const LAYERS: readonly (readonly string[])[]
export declare const OUTSIDE: readonly string[]
/** The tests of the enterprise modules (`test/enterprise`): the one folder outside `enterprise/` that may import it. */
export declare const ENTERPRISE_TESTS: string
export declare const LAYER_ELEMENTS: readonly { type: string; pattern: string; partialMatch: false }[]
export declare const LAYER_POLICIES: readonly Record<string, unknown>[]
/** The top-level folders `folder` may import (itself included). */
export declare function allowedImports(folder: string): string[]
