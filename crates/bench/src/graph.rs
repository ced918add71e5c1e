//! Social graphs to seed: an edge-list file (such as socfb-Reed98) or a
//! synthetic power-law graph. Both are undirected friendships; each becomes
//! two follows (a follows b, b follows a).

use std::collections::BTreeMap;

use anyhow::bail;
use rand::seq::IndexedRandom;

/// An undirected graph over users `0..users`, without self-loops or
/// duplicate edges; every edge is stored once as `(a, b)` with `a < b`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    pub users: usize,
    pub edges: Vec<(u32, u32)>,
}

/// What parsing an edge list skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParseStats {
    pub lines: usize,
    pub comments: usize,
    pub self_loops: usize,
    pub duplicates: usize,
}

impl Graph {
    /// Number of follows: two per undirected edge.
    pub fn follows(&self) -> usize {
        self.edges.len() * 2
    }

    /// Degree (friends, so also follows and followers) of every user.
    pub fn degrees(&self) -> Vec<u32> {
        let mut deg = vec![0u32; self.users];
        for &(a, b) in &self.edges {
            for v in [a, b] {
                if let Some(d) = deg.get_mut(v as usize) {
                    *d += 1;
                }
            }
        }
        deg
    }

    /// The `i`-th follow as (follower, followee): edge `i / 2`, in one
    /// direction for even `i` and the other for odd `i`.
    pub fn follow(&self, i: usize) -> Option<(u32, u32)> {
        let &(a, b) = self.edges.get(i / 2)?;
        Some(if i.is_multiple_of(2) { (a, b) } else { (b, a) })
    }

    /// Users, follows, mean and largest degree, for progress output.
    pub fn describe(&self) -> String {
        let deg = self.degrees();
        let max = deg.iter().copied().max().unwrap_or(0);
        let mean = if self.users == 0 {
            0.0
        } else {
            self.follows() as f64 / self.users as f64
        };
        format!(
            "{} users, {} undirected edges = {} follows (mean {mean:.1} per user, most {max})",
            self.users,
            self.edges.len(),
            self.follows()
        )
    }
}

/// Parses an edge list: one `a b` pair of non-negative integer ids per line
/// (further columns, such as weights, are ignored), separated by spaces,
/// tabs or a comma. Blank lines and lines starting with `%`, `#` or `//` are
/// comments. Ids need not be contiguous: they are mapped, in increasing
/// order, to users `0..n`. Self-loops and repeated edges (in either
/// direction) are skipped and counted.
pub fn parse_edges(text: &str) -> anyhow::Result<(Graph, ParseStats)> {
    let mut stats = ParseStats::default();
    let mut raw: Vec<(u64, u64)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        stats.lines += 1;
        let line = line.trim();
        if line.is_empty()
            || line.starts_with('%')
            || line.starts_with('#')
            || line.starts_with("//")
        {
            stats.comments += 1;
            continue;
        }
        let mut fields = line
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|f| !f.is_empty());
        let (Some(a), Some(b)) = (fields.next(), fields.next()) else {
            bail!("line {}: expected two user ids, got {line:?}", n + 1);
        };
        let parse = |f: &str| {
            f.parse::<u64>()
                .map_err(|_| anyhow::anyhow!("line {}: {f:?} is not a user id", n + 1))
        };
        let (a, b) = (parse(a)?, parse(b)?);
        if a == b {
            stats.self_loops += 1;
            continue;
        }
        raw.push((a.min(b), a.max(b)));
    }
    let mut ids: BTreeMap<u64, u32> = BTreeMap::new();
    for &(a, b) in &raw {
        ids.insert(a, 0);
        ids.insert(b, 0);
    }
    if ids.len() > u32::MAX as usize {
        bail!("too many users ({})", ids.len());
    }
    for (i, v) in ids.values_mut().enumerate() {
        *v = i as u32;
    }
    let mut edges: Vec<(u32, u32)> = raw
        .iter()
        .filter_map(|(a, b)| Some((*ids.get(a)?, *ids.get(b)?)))
        .collect();
    let before = edges.len();
    edges.sort_unstable();
    edges.dedup();
    stats.duplicates = before - edges.len();
    Ok((
        Graph {
            users: ids.len(),
            edges,
        },
        stats,
    ))
}

/// A synthetic friendship graph with a power-law degree distribution, by
/// preferential attachment (Barabási-Albert): the first `m + 1` users are all
/// friends with each other, then every further user befriends `m` distinct
/// earlier users, each chosen with probability proportional to its current
/// degree. `m` is `avg_follows / 2` (an odd `avg_follows` alternates between
/// the two nearest whole numbers), so the mean number of follows per user is
/// about `avg_follows`. Degrees follow P(k) ~ k^-3 with minimum `m`.
/// Deterministic for a given `seed`.
pub fn synthetic(users: usize, avg_follows: u32, seed: u64) -> anyhow::Result<Graph> {
    if users < 2 {
        bail!("a synthetic graph needs at least 2 users");
    }
    if users > u32::MAX as usize / 2 {
        bail!("too many users ({users})");
    }
    let half_low = (avg_follows / 2) as usize;
    let odd = avg_follows % 2 == 1;
    let m_max = half_low + usize::from(odd);
    if m_max == 0 {
        bail!("--avg-follows must be at least 1");
    }
    if m_max + 1 > users {
        bail!("--avg-follows {avg_follows} needs more than {users} users");
    }
    let mut rng = crate::rng(seed, 0);
    let seed_users = m_max + 1;
    let mut edges: Vec<(u32, u32)> = Vec::with_capacity(users * m_max);
    // Every edge end, so a uniform pick from here is degree-proportional.
    let mut ends: Vec<u32> = Vec::with_capacity(users * m_max * 2);
    for a in 0..seed_users as u32 {
        for b in (a + 1)..seed_users as u32 {
            edges.push((a, b));
            ends.extend([a, b]);
        }
    }
    let mut picked: Vec<u32> = Vec::with_capacity(m_max);
    for v in seed_users..users {
        let m = if odd && v % 2 == 1 {
            half_low + 1
        } else {
            half_low
        };
        picked.clear();
        while picked.len() < m {
            let Some(&u) = ends.choose(&mut rng) else {
                bail!("internal error: empty endpoint list");
            };
            if !picked.contains(&u) {
                picked.push(u);
            }
        }
        let v = v as u32;
        for &u in &picked {
            edges.push((u.min(v), u.max(v)));
            ends.extend([u, v]);
        }
    }
    edges.sort_unstable();
    Ok(Graph { users, edges })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_edge_lists_with_comments_and_odd_ids() {
        let text = "% a comment\n# another\n\n1 0\n15 0\n0 1\n2\t15 0.5\n3,3\n// c\n  7 2  \n";
        let (g, stats) = parse_edges(text).expect("parse");
        // ids 0,1,2,7,15 -> 0..5
        assert_eq!(g.users, 5);
        assert_eq!(g.edges, vec![(0, 1), (0, 4), (2, 3), (2, 4)]);
        assert_eq!(g.follows(), 8);
        assert_eq!(stats.comments, 4);
        assert_eq!(stats.self_loops, 1);
        assert_eq!(stats.duplicates, 1);
        assert_eq!(stats.lines, 10);
        assert_eq!(g.follow(0), Some((0, 1)));
        assert_eq!(g.follow(1), Some((1, 0)));
        assert_eq!(g.follow(7), Some((4, 2)));
        assert_eq!(g.follow(8), None);
        assert_eq!(g.degrees(), vec![2, 1, 2, 1, 2]);
    }

    #[test]
    fn rejects_malformed_lines() {
        let err = parse_edges("1 2\n3\n").expect_err("one id");
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(parse_edges("1 x\n").is_err());
        assert!(parse_edges("-1 2\n").is_err());
        let (g, _) = parse_edges("").expect("empty");
        assert_eq!(g.users, 0);
    }

    #[test]
    fn parses_the_reed98_graph_when_present() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/socfb-Reed98/socfb-Reed98.edges");
        let Ok(text) = std::fs::read_to_string(&path) else {
            eprintln!("skipped: {} not found", path.display());
            return;
        };
        let (g, _) = parse_edges(&text).expect("parse");
        assert_eq!(g.users, 962);
        assert_eq!(g.edges.len(), 18_812);
        assert_eq!(g.follows(), 37_624);
    }

    #[test]
    fn synthetic_graph_has_a_power_law_degree_distribution() {
        let n = 20_000;
        let g = synthetic(n, 10, 42).expect("graph");
        assert_eq!(g.users, n);
        let deg = g.degrees();
        let mean = deg.iter().map(|&d| f64::from(d)).sum::<f64>() / n as f64;
        assert!((mean - 10.0).abs() < 0.2, "mean follows {mean}");
        // Every user made m = 5 friendships on arrival.
        assert!(deg.iter().all(|&d| d >= 5), "min degree");
        // No duplicates, no self-loops, ordered pairs.
        let mut sorted = g.edges.clone();
        sorted.dedup();
        assert_eq!(sorted.len(), g.edges.len());
        assert!(g.edges.iter().all(|&(a, b)| a < b && (b as usize) < n));
        // A heavy tail: for Barabasi-Albert P(k >= x) ~ (m / x)^2, so about
        // 1.6 % of users have 40+ friends and the best connected has
        // hundreds (m * sqrt(n) ~ 700). A Poisson graph with mean 10 would
        // have essentially nobody above 30.
        let over_40 = deg.iter().filter(|&&d| d >= 40).count() as f64 / n as f64;
        assert!((0.005..0.04).contains(&over_40), "tail share {over_40}");
        let max = deg.iter().copied().max().unwrap_or(0);
        assert!(max >= 200, "max degree {max}");
        // The complementary CDF falls like a power law: doubling the degree
        // divides the share by about 2^2 = 4 (not exponentially).
        let share = |x: u32| deg.iter().filter(|&&d| d >= x).count() as f64;
        let ratio = share(20) / share(40);
        assert!((2.5..6.0).contains(&ratio), "ccdf ratio {ratio}");
    }

    #[test]
    fn synthetic_graph_is_seeded_and_handles_odd_means() {
        let a = synthetic(2_000, 7, 1).expect("graph");
        let b = synthetic(2_000, 7, 1).expect("graph");
        let c = synthetic(2_000, 7, 2).expect("graph");
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mean = a.follows() as f64 / 2_000.0;
        assert!((mean - 7.0).abs() < 0.2, "mean {mean}");
        assert!(synthetic(1, 4, 0).is_err());
        assert!(synthetic(10, 0, 0).is_err());
        assert!(synthetic(3, 10, 0).is_err());
        let tiny = synthetic(2, 1, 0).expect("two users");
        assert_eq!(tiny.edges, vec![(0, 1)]);
    }
}
