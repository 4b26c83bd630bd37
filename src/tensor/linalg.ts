// Linear algebra (LAPACK through libtorch).
import { native } from '../native/index.js';
import { Tensor, wrap } from './tensor.js';
import { ArgumentError, assertRank } from './validate.js';

function assertSquare(a: Tensor, op: string): void {
  assertRank(a, [2, 3], 'a', op);
  if (a.shape[a.rank - 1] !== a.shape[a.rank - 2])
    throw new ArgumentError(`Argument 'a' passed to '${op}' must be square, but got shape [${a.shape.join(', ')}]`);
}

/** Solves A X = B. */
export function solve(a: Tensor, b: Tensor): Tensor {
  assertSquare(a, 'solve');
  return wrap(native().solve(a.handle, b.handle));
}

/** Eigen-decomposition of a symmetric matrix: ascending eigenvalues, eigenvectors as columns. */
export function eigh(a: Tensor): { values: Tensor; vectors: Tensor } {
  assertSquare(a, 'eigh');
  const [v, q] = native().eigh(a.handle, 'L');
  return { values: wrap(v), vectors: wrap(q) };
}

export function inv(a: Tensor): Tensor {
  assertSquare(a, 'inv');
  return wrap(native().inv(a.handle));
}

export function cholesky(a: Tensor): Tensor {
  assertSquare(a, 'cholesky');
  return wrap(native().cholesky(a.handle));
}
