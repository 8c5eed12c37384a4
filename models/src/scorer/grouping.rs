//! Batches cut into groups of items of similar size, for graphs with dynamic axes that
//! mask their padding: each group runs on the shape of its largest item, so a batch of
//! mostly small items does a fraction of the work of one padded to the largest shape.
//! netFound groups flows by (bursts, tokens per burst), HSTU rows by length.

/// A group's padded cells may be this many times its items' own cells…
const GROUP_SLACK: f64 = 1.25;
/// …unless it has fewer items than this (a run has a fixed cost too).
const GROUP_MIN: usize = 16;

/// Items (indices into a batch) run together on one shape.
#[derive(Debug)]
pub(super) struct Group {
    pub members: Vec<usize>,
    /// The largest of its members' sizes, dimension by dimension.
    pub grid: (usize, usize),
}

/// Items of `sizes` (each at least 1 × 1) in groups: sorted by size, a group grows while
/// its padded cells stay within [`GROUP_SLACK`] of its items' own (or it has fewer than
/// [`GROUP_MIN`] items) and it holds at most `max_batch` items. The largest groups come
/// first, so that the sessions of [`Model::run_each`](crate::Model::run_each) finish
/// together.
pub(super) fn groups(sizes: &[(usize, usize)], max_batch: usize) -> Vec<Group> {
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by_key(|&i| sizes[i]);
    let mut groups: Vec<Group> = Vec::new();
    let (mut members, mut cells, mut top) = (Vec::new(), 0usize, (1usize, 1usize));
    for i in order {
        let (b, t) = sizes[i];
        let next_top = (top.0.max(b), top.1.max(t));
        let padded = (members.len() + 1) * next_top.0 * next_top.1;
        let fits =
            members.len() < GROUP_MIN || padded as f64 <= GROUP_SLACK * (cells + b * t) as f64;
        if !members.is_empty() && (!fits || members.len() >= max_batch.max(1)) {
            groups.push(Group { members: std::mem::take(&mut members), grid: top });
            (cells, top) = (0, (b, t));
        } else {
            top = next_top;
        }
        members.push(i);
        cells += b * t;
    }
    if !members.is_empty() {
        groups.push(Group { members, grid: top });
    }
    groups.sort_by_key(|g| std::cmp::Reverse(g.members.len() * g.grid.0 * g.grid.1));
    groups
}
