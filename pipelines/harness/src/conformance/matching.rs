//! One-to-one assignment of expected rows to our flows.
//!
//! Several expected rows may share a 5-tuple in one capture (port reuse, repeated
//! connections). Each candidate pair gets a cost (0 = exact); pairs are taken greedily by
//! increasing cost (ties: earlier expected row, then earlier flow), each row and each flow
//! used at most once. Unassigned rows still get their closest flow for the report.

/// The result for one expected row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Assignment {
    /// Paired with this flow (index into the flows) at this cost.
    Matched { flow: usize, cost: u32 },
    /// No free candidate; `closest` is the best candidate even if taken by another row.
    Unmatched { closest: Option<usize> },
}

/// Assign rows to flows one-to-one. `cost(row, flow)` is `None` when the flow is not a
/// candidate for the row (different key), else the number-weighted distance (0 = exact).
pub(crate) fn assign<R, F>(
    rows: &[R],
    flows: &[F],
    mut cost: impl FnMut(&R, &F) -> Option<u32>,
) -> Vec<Assignment> {
    let mut pairs: Vec<(u32, usize, usize)> = Vec::new();
    for (ri, r) in rows.iter().enumerate() {
        for (fi, f) in flows.iter().enumerate() {
            if let Some(c) = cost(r, f) {
                pairs.push((c, ri, fi));
            }
        }
    }
    pairs.sort_unstable();
    let mut out: Vec<Assignment> = vec![Assignment::Unmatched { closest: None }; rows.len()];
    let mut row_done = vec![false; rows.len()];
    let mut flow_used = vec![false; flows.len()];
    for &(c, ri, fi) in &pairs {
        if row_done[ri] {
            continue;
        }
        if flow_used[fi] {
            if let Assignment::Unmatched { closest: closest @ None } = &mut out[ri] {
                *closest = Some(fi);
            }
            continue;
        }
        row_done[ri] = true;
        flow_used[fi] = true;
        out[ri] = Assignment::Matched { flow: fi, cost: c };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_pairs_win_over_greedy_order() {
        // Row 0 is close to both flows, row 1 only matches flow 0 exactly.
        let rows = [10u32, 20];
        let flows = [20u32, 11];
        let a = assign(&rows, &flows, |r, f| Some(r.abs_diff(*f)));
        assert_eq!(a[1], Assignment::Matched { flow: 0, cost: 0 });
        assert_eq!(a[0], Assignment::Matched { flow: 1, cost: 1 });
    }

    #[test]
    fn each_flow_used_once() {
        let rows = [5u32, 5, 5];
        let flows = [5u32, 5];
        let a = assign(&rows, &flows, |r, f| Some(r.abs_diff(*f)));
        assert_eq!(a[0], Assignment::Matched { flow: 0, cost: 0 });
        assert_eq!(a[1], Assignment::Matched { flow: 1, cost: 0 });
        assert_eq!(a[2], Assignment::Unmatched { closest: Some(0) });
    }

    #[test]
    fn non_candidates_are_never_assigned() {
        let rows = [1u32];
        let flows = [2u32];
        let a = assign(&rows, &flows, |r, f| (r == f).then_some(0));
        assert_eq!(a[0], Assignment::Unmatched { closest: None });
    }
}
