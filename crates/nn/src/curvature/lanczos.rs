//! The Lanczos method for a few extreme eigenvalues of a symmetric linear
//! map given only as a matrix-vector product, and the dense symmetric
//! eigensolver (cyclic Jacobi) it needs for its small tridiagonal matrix.

use rand::{Rng, SeedableRng};

/// Eigenvalues in ascending order, with unit eigenvectors (`vectors[i]`
/// belongs to `values[i]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Eigen {
    /// The eigenvalues, ascending.
    pub values: Vec<f64>,
    /// The matching unit eigenvectors.
    pub vectors: Vec<Vec<f64>>,
}

impl Eigen {
    /// The `k` largest eigenvalues with their vectors, largest first.
    pub fn top(&self, k: usize) -> Eigen {
        let n = self.values.len();
        let idx: Vec<usize> = (n.saturating_sub(k)..n).rev().collect();
        Eigen {
            values: idx.iter().map(|&i| self.values[i]).collect(),
            vectors: idx.iter().map(|&i| self.vectors[i].clone()).collect(),
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// `steps` Lanczos iterations on the symmetric map `matvec` of dimension
/// `n`, from a random start (seeded), with full reorthogonalisation: the
/// Ritz values and vectors of the Krylov space. Its extreme values
/// converge first (to machine precision within a few dozen steps for a
/// well-separated top eigenvalue); with `steps >= n` it returns the whole
/// spectrum, repeated eigenvalues included (when the Krylov space closes
/// on an invariant subspace it restarts orthogonally to it).
///
/// ```
/// use tapegrad_nn::curvature::lanczos;
///
/// // diag(1, 2, ..., 10): the top eigenvalue is 10.
/// let e = lanczos(10, |v| v.iter().enumerate().map(|(i, x)| (i + 1) as f64 * x).collect(), 10, 0);
/// assert!((e.values[e.values.len() - 1] - 10.0).abs() < 1e-10);
/// assert!((e.values[0] - 1.0).abs() < 1e-10);
/// ```
///
/// # Panics
/// If `n` or `steps` is 0, or `matvec` returns a vector of another length.
#[track_caller]
pub fn lanczos(
    n: usize,
    mut matvec: impl FnMut(&[f64]) -> Vec<f64>,
    steps: usize,
    seed: u64,
) -> Eigen {
    if n == 0 || steps == 0 {
        panic!("lanczos: dimension {n} and steps {steps} must be positive");
    }
    let steps = steps.min(n);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut q: Vec<f64> = (0..n).map(|_| rng.random::<f64>() - 0.5).collect();
    let q_norm = norm(&q);
    q.iter_mut().for_each(|x| *x /= q_norm);
    let mut basis: Vec<Vec<f64>> = Vec::with_capacity(steps);
    let (mut alpha, mut beta) = (Vec::with_capacity(steps), Vec::with_capacity(steps));
    for j in 0..steps {
        let mut w = matvec(&q);
        if w.len() != n {
            panic!(
                "lanczos: the map returned {} entries for a vector of {n}",
                w.len()
            );
        }
        let a = dot(&q, &w);
        alpha.push(a);
        basis.push(q.clone());
        // Full reorthogonalisation against every basis vector, twice
        // ("twice is enough", Parlett): keeps the Ritz values free of ghosts.
        for _ in 0..2 {
            for b in &basis {
                let c = dot(b, &w);
                w.iter_mut().zip(b).for_each(|(x, y)| *x -= c * y);
            }
        }
        if j + 1 == steps {
            break;
        }
        let b = norm(&w);
        let scale = alpha.iter().fold(1e-300f64, |m, a| m.max(a.abs()));
        if b > 1e-12 * scale {
            beta.push(b);
            q = w.iter().map(|x| x / b).collect();
            continue;
        }
        // The Krylov space closed (an invariant subspace: the identity
        // closes after one step): restart from a fresh random direction
        // orthogonal to it, with no coupling (β = 0), so repeated
        // eigenvalues are all found.
        let Some(fresh) = fresh_direction(&basis, n, &mut rng) else {
            break; // the basis spans everything
        };
        beta.push(0.0);
        q = fresh;
    }
    let m = alpha.len();
    let mut t = vec![vec![0.0; m]; m];
    for i in 0..m {
        t[i][i] = alpha[i];
        if i + 1 < m {
            t[i][i + 1] = beta[i];
            t[i + 1][i] = beta[i];
        }
    }
    let small = symmetric_eigen(t);
    let vectors = small
        .vectors
        .iter()
        .map(|s| {
            let mut v = vec![0.0; n];
            for (coef, b) in s.iter().zip(&basis) {
                v.iter_mut().zip(b).for_each(|(x, y)| *x += coef * y);
            }
            let nv = norm(&v);
            v.iter_mut().for_each(|x| *x /= nv);
            v
        })
        .collect();
    Eigen {
        values: small.values,
        vectors,
    }
}

/// A random unit vector orthogonal to `basis`, or `None` if the basis
/// spans the space.
fn fresh_direction(basis: &[Vec<f64>], n: usize, rng: &mut impl Rng) -> Option<Vec<f64>> {
    for _ in 0..8 {
        let mut v: Vec<f64> = (0..n).map(|_| rng.random::<f64>() - 0.5).collect();
        for _ in 0..2 {
            for b in basis {
                let c = dot(b, &v);
                v.iter_mut().zip(b).for_each(|(x, y)| *x -= c * y);
            }
        }
        let nv = norm(&v);
        if nv > 1e-8 {
            return Some(v.into_iter().map(|x| x / nv).collect());
        }
    }
    None
}

/// All eigenvalues and eigenvectors of a dense symmetric matrix (rows of
/// `a`), by cyclic Jacobi rotations until the off-diagonal mass is below
/// 1e-15 of the total (accurate to a few ulps of the largest eigenvalue).
///
/// # Panics
/// If `a` is not square.
#[track_caller]
pub fn symmetric_eigen(mut a: Vec<Vec<f64>>) -> Eigen {
    let n = a.len();
    if a.iter().any(|r| r.len() != n) {
        panic!("symmetric_eigen: the matrix is not square");
    }
    let mut v: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| f64::from(u8::from(i == j))).collect())
        .collect();
    let total: f64 = a.iter().flatten().map(|x| x * x).sum::<f64>().max(1e-300);
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        if off <= 1e-30 * total {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q] == 0.0 {
                    continue;
                }
                // The rotation that zeroes a[p][q] (Golub & Van Loan 8.5.2).
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for row in a.iter_mut() {
                    let (akp, akq) = (row[p], row[q]);
                    row[p] = c * akp - s * akq;
                    row[q] = s * akp + c * akq;
                }
                let (row_p, row_q) = (a[p].clone(), a[q].clone());
                for (k, (apk, aqk)) in row_p.into_iter().zip(row_q).enumerate() {
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                for row in v.iter_mut() {
                    let (vp, vq) = (row[p], row[q]);
                    row[p] = c * vp - s * vq;
                    row[q] = s * vp + c * vq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[i][i].total_cmp(&a[j][j]));
    Eigen {
        values: order.iter().map(|&i| a[i][i]).collect(),
        vectors: order
            .iter()
            .map(|&i| (0..n).map(|k| v[k][i]).collect())
            .collect(),
    }
}
