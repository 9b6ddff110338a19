/**
 * Validity helpers shared by kernels. A validity array holds one byte a row (1 = valid); `null`
 * means every row is valid, which is the common case and lets kernels skip all null bookkeeping.
 */

/**
 * Validity of a row-wise combination of two inputs (valid where both are). Returns `null` when
 * neither input has nulls, the other input's array when only one has (vectors are immutable, so
 * sharing is safe), and a fresh array otherwise.
 */
export function andValidity(a: Uint8Array | null, b: Uint8Array | null, length: number): Uint8Array | null {
  if (a === null) return b;
  if (b === null) return a;
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = a[i]! & b[i]!;
  return out;
}

/** A fresh, writable copy of a validity array (all ones for `null`). */
export function writableValidity(valid: Uint8Array | null, length: number): Uint8Array {
  return valid === null ? new Uint8Array(length).fill(1) : valid.slice(0, length);
}

/** `null` when every row of `valid` is set, so freshly built validity does not force slow paths downstream. */
export function compactValidity(valid: Uint8Array, length: number): Uint8Array | null {
  for (let i = 0; i < length; i++) if (valid[i] === 0) return valid;
  return null;
}
