/** The operations of the upstream's v1 delta encoding (shared/spec/upstream-delta-encoding.md). */
export const DELTA_OPERATIONS = ['add', 'append', 'replace', 'truncate', 'remove', 'patch'] as const;
export type DeltaOperationName = (typeof DELTA_OPERATIONS)[number];

/** One delta: operation `o` with value `v` at the JSON-pointer-like path `p` (`""` is the whole document). */
export interface DeltaOperation {
  p: string;
  o: DeltaOperationName;
  v?: unknown;
}

/** A delta that cannot be applied to the document as it is (bad path, wrong value type). */
export class DeltaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeltaError';
  }
}

export function isDeltaOperationName(value: unknown): value is DeltaOperationName {
  return typeof value === 'string' && (DELTA_OPERATIONS as readonly string[]).includes(value);
}

/** Splits a path into its keys, undoing the `~1` (for `/`) and `~0` (for `~`) escapes. */
export function parseDeltaPath(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new DeltaError(`path must start with "/": ${JSON.stringify(path)}`);
  return path
    .slice(1)
    .split('/')
    .map((key) => (key.includes('~') ? key.replace(/~1/g, '/').replace(/~0/g, '~') : key));
}

type LeafOperationName = Exclude<DeltaOperationName, 'patch'>;
type Container = Record<string, unknown> | unknown[];

const ARRAY_INDEX = /^(?:0|[1-9]\d*)$/;

function isContainer(value: unknown): value is Container {
  return typeof value === 'object' && value !== null;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return isContainer(value) && !Array.isArray(value);
}

/** An array position for `key`; `-` and the length both mean "one past the end". */
function arrayIndex(array: unknown[], key: string): number {
  if (key === '-') return array.length;
  if (!ARRAY_INDEX.test(key)) throw new DeltaError(`not an array index: ${JSON.stringify(key)}`);
  return Number(key);
}

function readChild(container: Container, key: string): unknown {
  if (Array.isArray(container)) return container[arrayIndex(container, key)];
  return Object.hasOwn(container, key) ? container[key] : undefined;
}

function writeChild(container: Container, key: string, value: unknown): void {
  if (Array.isArray(container)) {
    const index = arrayIndex(container, key);
    if (index > container.length) throw new DeltaError(`array index ${index} is past the end (${container.length})`);
    container[index] = value;
    return;
  }
  // Assigning "__proto__" would swap the object's prototype instead of adding a key.
  if (key === '__proto__') throw new DeltaError('refusing to write "__proto__"');
  container[key] = value;
}

function removeChild(container: Container, key: string): void {
  if (Array.isArray(container)) {
    const index = arrayIndex(container, key);
    if (index < container.length) container.splice(index, 1);
    return;
  }
  delete container[key];
}

/** `append`: strings concatenate, arrays take the items, objects take the keys; nothing yet takes the value. */
function appended(current: unknown, value: unknown): unknown {
  if (current === undefined || current === null) return value;
  if (typeof current === 'string') {
    if (typeof value !== 'string') throw new DeltaError('only a string can be appended to a string');
    return current + value;
  }
  if (Array.isArray(current)) {
    if (Array.isArray(value)) for (const item of value) current.push(item);
    else current.push(value);
    return current;
  }
  if (isPlainObject(current) && isPlainObject(value)) {
    for (const key of Object.keys(value)) writeChild(current, key, value[key]);
    return current;
  }
  throw new DeltaError(`cannot append to a ${typeof current}`);
}

/** `truncate`: cuts a string or an array to `length`. */
function truncated(current: unknown, length: unknown): unknown {
  if (typeof length !== 'number' || !Number.isInteger(length) || length < 0) {
    throw new DeltaError(`truncate needs a non-negative integer length, got ${JSON.stringify(length)}`);
  }
  if (typeof current === 'string') return current.slice(0, length);
  if (Array.isArray(current)) {
    if (current.length > length) current.length = length;
    return current;
  }
  throw new DeltaError(`cannot truncate a ${current === null ? 'null' : typeof current}`);
}

/** The value at a key after a non-patch operation (`remove` leaves nothing). */
function changedValue(current: unknown, operation: LeafOperationName, value: unknown): unknown {
  switch (operation) {
    case 'add':
    case 'replace':
      return value;
    case 'append':
      return appended(current, value);
    case 'truncate':
      return truncated(current, value);
    case 'remove':
      return undefined;
  }
}

/**
 * One message's JSON document, rebuilt from deltas. Values are changed in place, so appending to a
 * string or an array costs only the size of what is appended.
 */
export class DeltaDocument {
  /** Most deltas repeat the previous path (bare `{"v": …}`), so the last parsed path is kept. */
  private lastPath = { path: '', keys: [] as string[] };

  constructor(private root: unknown = undefined) {}

  get value(): unknown {
    return this.root;
  }

  /** The value at `path`, or undefined when any part of the path is missing. */
  get(path: string): unknown {
    let node = this.root;
    for (const key of parseDeltaPath(path)) {
      if (!isContainer(node)) return undefined;
      node = readChild(node, key);
    }
    return node;
  }

  /**
   * Applies one delta. A `patch` applies its deltas in order, their paths taken relative to the patch's own.
   * `onApplied` sees every non-patch delta right after it took effect, with its full path.
   * Throws a DeltaError when a delta does not fit; the deltas before it in a patch stay applied.
   */
  apply(delta: DeltaOperation, onApplied?: (applied: DeltaOperation) => void): void {
    if (!isDeltaOperationName(delta.o)) throw new DeltaError(`unknown operation ${JSON.stringify(delta.o)}`);
    if (delta.o === 'patch') {
      if (!Array.isArray(delta.v)) throw new DeltaError('patch needs a list of deltas');
      for (const inner of delta.v) {
        if (!isPlainObject(inner) || typeof inner.p !== 'string') throw new DeltaError('patch items need "p" and "o"');
        this.apply({ p: delta.p + inner.p, o: inner.o as DeltaOperationName, v: inner.v }, onApplied);
      }
      return;
    }
    this.applyLeaf(this.keysOf(delta.p), delta.o, delta.v);
    onApplied?.(delta);
  }

  private keysOf(path: string): string[] {
    if (path !== this.lastPath.path) this.lastPath = { path, keys: parseDeltaPath(path) };
    return this.lastPath.keys;
  }

  private applyLeaf(keys: string[], operation: LeafOperationName, value: unknown): void {
    if (keys.length === 0) {
      this.root = changedValue(this.root, operation, value);
      return;
    }
    const parent = this.parentOf(keys, operation !== 'remove' && operation !== 'truncate');
    const key = keys[keys.length - 1];
    if (operation === 'remove') removeChild(parent, key);
    else writeChild(parent, key, changedValue(readChild(parent, key), operation, value));
  }

  /** The container holding the last key; missing objects on the way are created when `create` is set. */
  private parentOf(keys: string[], create: boolean): Container {
    if (!isContainer(this.root)) {
      if (!create || this.root !== undefined) throw new DeltaError('the document is not an object');
      this.root = {};
    }
    let node = this.root as Container;
    for (let i = 0; i < keys.length - 1; i += 1) {
      let child = readChild(node, keys[i]);
      if (!isContainer(child)) {
        if (!create || (child !== undefined && child !== null)) {
          throw new DeltaError(`no object at /${keys.slice(0, i + 1).join('/')}`);
        }
        child = {};
        writeChild(node, keys[i], child);
      }
      node = child as Container;
    }
    return node;
  }
}
