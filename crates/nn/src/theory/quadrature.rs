//! Gauss–Hermite quadrature for expectations over standard normal
//! variables, one-dimensional and for correlated pairs.

/// Gauss–Hermite quadrature with the probabilists' weight: `n` nodes `zᵢ`
/// and weights `wᵢ` with
///
/// `E[f(z)] = ∫ f(z) e^{-z²/2} / √(2π) dz ≈ Σᵢ wᵢ f(zᵢ)`, `z ~ N(0, 1)`,
///
/// exact when `f` is a polynomial of degree at most `2n − 1`, and
/// exponentially accurate for functions analytic in a strip around the real
/// axis (tanh, sigmoid, erf). The weights sum to 1.
///
/// The nodes are the roots of the probabilists' Hermite polynomial `Heₙ`,
/// found by Newton's method on the three-term recurrence of the orthonormal
/// polynomials `pₖ = Heₖ / √(k!)`,
///
/// `p₀ = 1`, `p₁ = z`, `pₖ₊₁ = (z pₖ − √k pₖ₋₁) / √(k+1)`, with `pₙ' = √n pₙ₋₁`,
///
/// starting from the asymptotic guesses of *Numerical Recipes* (`gauher`);
/// the weights are `wᵢ = 1 / (n pₙ₋₁(zᵢ)²)`.
#[derive(Clone, Debug, PartialEq)]
pub struct GaussHermite {
    nodes: Vec<f64>,
    weights: Vec<f64>,
}

/// The largest order [`GaussHermite::new`] accepts: `pₙ₋₁(z)` grows like
/// `e^{z²/4}` and the largest node like `2√n`, so past about 700 nodes the
/// recurrence overflows f64.
pub const MAX_ORDER: usize = 600;

impl GaussHermite {
    /// The `n`-point rule.
    ///
    /// # Panics
    /// If `n` is 0 or above [`MAX_ORDER`].
    #[track_caller]
    pub fn new(n: usize) -> Self {
        if n == 0 || n > MAX_ORDER {
            panic!("GaussHermite::new: order {n} must be in 1..={MAX_ORDER}");
        }
        let half = n.div_ceil(2);
        let mut nodes = vec![0.0; n];
        let mut weights = vec![0.0; n];
        let mut found: Vec<f64> = Vec::with_capacity(half);
        for i in 0..half {
            // Right of the largest root still to find: the bound √(4n + 2)
            // on the largest root of Heₙ for the first, just left of the
            // previous root for the others.
            let start = match found.last() {
                None => 2.0 * (n as f64 + 1.0).sqrt(),
                Some(&r) => r - 1e-6 * r.max(1.0),
            };
            let z = if n % 2 == 1 && i == half - 1 {
                0.0 // the middle root of an odd order, by symmetry
            } else {
                deflated_newton(n, start, &found)
            };
            let p_nm1 = orthonormal(n, z).1;
            found.push(z);
            let w = 1.0 / (n as f64 * p_nm1 * p_nm1);
            nodes[i] = z;
            nodes[n - 1 - i] = -z;
            weights[i] = w;
            weights[n - 1 - i] = w;
        }
        nodes.reverse(); // ascending
        weights.reverse();
        GaussHermite { nodes, weights }
    }

    /// Number of nodes.
    pub fn order(&self) -> usize {
        self.nodes.len()
    }

    /// The nodes `zᵢ`, ascending and symmetric about 0.
    pub fn nodes(&self) -> &[f64] {
        &self.nodes
    }

    /// The weights `wᵢ` (positive, summing to 1).
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// `E[f(z)] ≈ Σᵢ wᵢ f(zᵢ)` for `z ~ N(0, 1)`.
    pub fn expect(&self, f: impl Fn(f64) -> f64) -> f64 {
        self.nodes
            .iter()
            .zip(&self.weights)
            .map(|(&z, &w)| w * f(z))
            .sum()
    }

    /// `E[f(u₁, u₂)]` for a centred Gaussian pair with `Var u₁ = q11`,
    /// `Var u₂ = q22` and correlation `c`, written through independent
    /// `z₁, z₂ ~ N(0, 1)` as
    ///
    /// `u₁ = √q11 z₁`, `u₂ = √q22 (c z₁ + √(1 − c²) z₂)`,
    ///
    /// by the tensor-product rule `Σᵢ Σⱼ wᵢ wⱼ f(u₁(zᵢ), u₂(zᵢ, zⱼ))`.
    ///
    /// # Panics
    /// If `q11` or `q22` is negative or `|c| > 1`.
    #[track_caller]
    pub fn expect_pair(&self, q11: f64, q22: f64, c: f64, f: impl Fn(f64, f64) -> f64) -> f64 {
        if !(q11 >= 0.0 && q22 >= 0.0 && c.abs() <= 1.0) {
            panic!("expect_pair: need q11 {q11} >= 0, q22 {q22} >= 0, |c| = |{c}| <= 1");
        }
        let (s1, s2) = (q11.sqrt(), q22.sqrt());
        let s = (1.0 - c * c).max(0.0).sqrt();
        let mut total = 0.0;
        for (&z1, &w1) in self.nodes.iter().zip(&self.weights) {
            let u1 = s1 * z1;
            let inner: f64 = self
                .nodes
                .iter()
                .zip(&self.weights)
                .map(|(&z2, &w2)| w2 * f(u1, s2 * (c * z1 + s * z2)))
                .sum();
            total += w1 * inner;
        }
        total
    }
}

/// `(pₙ(z), pₙ₋₁(z))` for the orthonormal probabilists' Hermite polynomials.
fn orthonormal(n: usize, z: f64) -> (f64, f64) {
    let (mut p_km1, mut p_k) = (0.0, 1.0); // p₋₁, p₀
    for k in 0..n {
        let kf = k as f64;
        let next = (z * p_k - kf.sqrt() * p_km1) / (kf + 1.0).sqrt();
        p_km1 = p_k;
        p_k = next;
    }
    (p_k, p_km1)
}

/// The largest root of `pₙ` below `start` that is not among `found` (nor
/// their negatives), by Newton's method on `pₙ(z) / Πⱼ (z² − rⱼ²)` (Maehly's
/// deflation): the deflated polynomial has only real roots and `start` lies
/// right of its largest, so the iterates decrease monotonically onto it
/// (up to rounding, which Newton's quadratic convergence then corrects).
fn deflated_newton(n: usize, start: f64, found: &[f64]) -> f64 {
    let mut z = start;
    for _ in 0..500 {
        let (p_n, p_nm1) = orthonormal(n, z);
        // pₙ' / pₙ minus the logarithmic derivatives of the found factors
        let log_slope = (n as f64).sqrt() * p_nm1 / p_n
            - found
                .iter()
                .map(|&r| 2.0 * z / (z * z - r * r))
                .sum::<f64>();
        let step = 1.0 / log_slope;
        z -= step;
        // Rounding can overshoot a root by a little (the deflation cancels
        // large terms next to the previous root), so converge on |step|.
        // (a NaN step also stops)
        if step.is_nan() || step.abs() <= 1e-16 * z.abs().max(1.0) {
            break;
        }
    }
    z
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_node_is_the_mean_and_two_nodes_are_plus_minus_one() {
        // He₁ = z has root 0; He₂ = z² − 1 has roots ±1 with weights 1/2.
        let g = GaussHermite::new(1);
        assert_eq!((g.nodes(), g.weights()), (&[0.0][..], &[1.0][..]));
        let g = GaussHermite::new(2);
        for (z, w) in g.nodes().iter().zip(g.weights()) {
            assert!((z.abs() - 1.0).abs() < 1e-15 && (w - 0.5).abs() < 1e-15);
        }
    }

    #[test]
    fn nodes_are_roots_and_sorted_for_large_orders() {
        for n in [3, 10, 57, 100, 200, 400] {
            let g = GaussHermite::new(n);
            assert!(g.nodes().windows(2).all(|w| w[0] < w[1]), "n = {n}");
            // Weights sum to E[1] = 1 (rounding: n terms of 1 ulp).
            let sum: f64 = g.weights().iter().sum();
            assert!((sum - 1.0).abs() < 1e-13, "n = {n}: sum {sum}");
            // The largest node of Heₙ lies below √(4n + 2) (Szegő's bound
            // √(2n+1) for Hₙ, times √2).
            assert!(g.nodes()[n - 1] < (4.0 * n as f64 + 2.0).sqrt());
        }
    }
}
