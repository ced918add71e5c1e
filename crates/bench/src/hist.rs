//! A small log-linear latency histogram (the idea behind HDR histograms).
//!
//! Values are nanoseconds. Values below 256 are kept exactly; above that each
//! power of two is split into 128 equal sub-buckets, so any recorded value is
//! known to within 1/128 (< 0.8 %) of itself. Recording is one index
//! computation and one increment, cheap enough for the per-request hot path.

/// Bits of mantissa kept per power of two.
const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;
/// Largest trackable value: 2^40 ns (about 18 minutes). Larger values clamp.
const MAX_BITS: u32 = 40;
const MAX_VALUE: u64 = (1 << MAX_BITS) - 1;
const BUCKETS: usize = ((MAX_BITS - 1 - SUB_BITS) as usize) * (SUB as usize) + 2 * (SUB as usize);

#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    sum: u128,
    min: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

fn index_of(value: u64) -> usize {
    let v = value.min(MAX_VALUE);
    if v < 2 * SUB {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros();
    let shift = msb - SUB_BITS;
    let mantissa = v >> shift; // in [SUB, 2*SUB)
    (shift as usize) * (SUB as usize) + mantissa as usize
}

/// The smallest and largest values that land in bucket `index`.
fn bounds_of(index: usize) -> (u64, u64) {
    let i = index as u64;
    if i < 2 * SUB {
        return (i, i);
    }
    let shift = i / SUB - 1;
    let mantissa = i - shift * SUB;
    let low = mantissa << shift;
    (low, low + (1 << shift) - 1)
}

impl Histogram {
    pub fn new() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            total: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    #[inline]
    pub fn record(&mut self, value: u64) {
        let idx = index_of(value);
        if let Some(c) = self.counts.get_mut(idx) {
            *c += 1;
        }
        self.total += 1;
        self.sum += u128::from(value);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += *b;
        }
        self.total += other.total;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// Largest recorded value, exact. 0 when empty.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Mean of the recorded values, exact. 0 when empty.
    pub fn mean(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum as f64 / self.total as f64
        }
    }

    /// The value at quantile `q` (0.0..=1.0): the midpoint of the bucket
    /// holding the ceil(q * n)-th smallest value, clamped to the exact
    /// minimum and maximum. 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let q = q.clamp(0.0, 1.0);
        if q <= 0.0 {
            return self.min;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0u64;
        for (idx, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (low, high) = bounds_of(idx);
                let mid = low + (high - low) / 2;
                return mid.clamp(self.min, self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_are_monotonic_and_bounds_contain_values() {
        let mut last = 0usize;
        let mut v = 0u64;
        while v < (1 << 36) {
            let idx = index_of(v);
            assert!(idx >= last, "index went backwards at {v}");
            assert!(idx < BUCKETS);
            let (low, high) = bounds_of(idx);
            assert!(low <= v && v <= high, "{v} not in [{low}, {high}]");
            last = idx;
            v = v + 1 + v / 97;
        }
        assert_eq!(index_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn relative_error_is_small() {
        for v in [300u64, 1_000, 12_345, 999_999, 50_000_000, 7_000_000_000] {
            let (low, high) = bounds_of(index_of(v));
            let width = (high - low) as f64;
            assert!(width / (v as f64) < 0.008, "bucket too wide for {v}");
        }
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::new();
        assert_eq!(h.quantile(0.5), 0);
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        assert_eq!(h.count(), 1000);
        assert_eq!(h.max(), 1_000_000);
        let p50 = h.quantile(0.5) as f64;
        assert!((p50 - 500_000.0).abs() / 500_000.0 < 0.01, "{p50}");
        let p99 = h.quantile(0.99) as f64;
        assert!((p99 - 990_000.0).abs() / 990_000.0 < 0.01, "{p99}");
        assert_eq!(h.quantile(1.0), 1_000_000);
        assert_eq!(h.quantile(0.0), 1000);
        assert!((h.mean() - 500_500.0).abs() < 1.0);
    }

    #[test]
    fn merge_adds_up() {
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        a.record(10);
        b.record(20);
        b.record(30);
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert_eq!(a.max(), 30);
        assert_eq!(a.quantile(0.0), 10);
        assert_eq!(a.quantile(0.5), 20);
    }
}
