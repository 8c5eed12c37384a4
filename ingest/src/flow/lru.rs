//! A slab of entries threaded on intrusive doubly linked lists, for O(1) LRU and timer queues.
//!
//! Every entry has two independent link sets ("planes"): plane 0 holds the idle (LRU) lists,
//! one per timeout class, plane 1 the fixed-deadline timer lists. An entry is on at most one
//! list per plane. Lists append at the tail, so a list whose entries all get `now + constant`
//! as deadline is sorted by deadline and its head is the next to expire.

const NIL: u32 = u32::MAX;
const NO_LIST: u8 = u8::MAX;

#[derive(Debug, Clone, Copy)]
struct Link {
    prev: u32,
    next: u32,
    list: u8,
}

const UNLINKED: Link = Link { prev: NIL, next: NIL, list: NO_LIST };

#[derive(Debug)]
struct Entry<T> {
    value: Option<T>,
    links: [Link; 2],
}

/// The slab with `L0` lists on plane 0 and `L1` lists on plane 1.
#[derive(Debug)]
pub(crate) struct Slab<T, const L0: usize, const L1: usize> {
    entries: Vec<Entry<T>>,
    free: Vec<u32>,
    heads0: [u32; L0],
    tails0: [u32; L0],
    heads1: [u32; L1],
    tails1: [u32; L1],
    len: usize,
}

impl<T, const L0: usize, const L1: usize> Slab<T, L0, L1> {
    /// An empty slab.
    pub(crate) fn new() -> Self {
        Self {
            entries: Vec::new(),
            free: Vec::new(),
            heads0: [NIL; L0],
            tails0: [NIL; L0],
            heads1: [NIL; L1],
            tails1: [NIL; L1],
            len: 0,
        }
    }

    /// Entries held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Stores `value` (on no list yet) and returns its slot.
    pub(crate) fn insert(&mut self, value: T) -> u32 {
        self.len += 1;
        if let Some(slot) = self.free.pop() {
            let e = &mut self.entries[slot as usize];
            e.value = Some(value);
            e.links = [UNLINKED; 2];
            slot
        } else {
            self.entries.push(Entry { value: Some(value), links: [UNLINKED; 2] });
            (self.entries.len() - 1) as u32
        }
    }

    /// Removes the entry at `slot` from its lists and returns it.
    pub(crate) fn remove(&mut self, slot: u32) -> T {
        self.unlink(0, slot);
        self.unlink(1, slot);
        self.len -= 1;
        self.free.push(slot);
        self.entries[slot as usize].value.take().expect("live slot")
    }

    /// The entry at `slot`.
    #[inline]
    pub(crate) fn get(&self, slot: u32) -> &T {
        self.entries[slot as usize].value.as_ref().expect("live slot")
    }

    /// The entry at `slot`, mutably.
    #[inline]
    pub(crate) fn get_mut(&mut self, slot: u32) -> &mut T {
        self.entries[slot as usize].value.as_mut().expect("live slot")
    }

    /// Slots of every live entry, in slot order.
    pub(crate) fn live_slots(&self) -> Vec<u32> {
        (0..self.entries.len() as u32)
            .filter(|&s| self.entries[s as usize].value.is_some())
            .collect()
    }

    #[inline]
    fn ends(&mut self, plane: usize) -> (&mut [u32], &mut [u32]) {
        if plane == 0 {
            (&mut self.heads0, &mut self.tails0)
        } else {
            (&mut self.heads1, &mut self.tails1)
        }
    }

    /// The list `slot` is on in `plane`, if any.
    #[cfg(test)]
    #[inline]
    pub(crate) fn list_of(&self, plane: usize, slot: u32) -> Option<u8> {
        let l = self.entries[slot as usize].links[plane].list;
        (l != NO_LIST).then_some(l)
    }

    /// Takes `slot` off its list in `plane` (no-op when on none).
    pub(crate) fn unlink(&mut self, plane: usize, slot: u32) {
        let Link { prev, next, list } = self.entries[slot as usize].links[plane];
        if list == NO_LIST {
            return;
        }
        if prev != NIL {
            self.entries[prev as usize].links[plane].next = next;
        }
        if next != NIL {
            self.entries[next as usize].links[plane].prev = prev;
        }
        let (heads, tails) = self.ends(plane);
        if prev == NIL {
            heads[list as usize] = next;
        }
        if next == NIL {
            tails[list as usize] = prev;
        }
        self.entries[slot as usize].links[plane] = UNLINKED;
    }

    /// Appends `slot` to `list` in `plane`, taking it off its previous list there.
    pub(crate) fn push_back(&mut self, plane: usize, list: u8, slot: u32) {
        self.unlink(plane, slot);
        let (_, tails) = self.ends(plane);
        let tail = tails[list as usize];
        self.entries[slot as usize].links[plane] = Link { prev: tail, next: NIL, list };
        if tail != NIL {
            self.entries[tail as usize].links[plane].next = slot;
        }
        let (heads, tails) = self.ends(plane);
        if tail == NIL {
            heads[list as usize] = slot;
        }
        tails[list as usize] = slot;
    }

    /// The oldest entry of `list` in `plane`.
    #[inline]
    pub(crate) fn front(&self, plane: usize, list: u8) -> Option<u32> {
        let h = if plane == 0 { self.heads0[list as usize] } else { self.heads1[list as usize] };
        (h != NIL).then_some(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_reuse() {
        let mut s: Slab<u32, 2, 1> = Slab::new();
        let a = s.insert(10);
        let b = s.insert(20);
        let c = s.insert(30);
        s.push_back(0, 0, a);
        s.push_back(0, 0, b);
        s.push_back(0, 1, c);
        assert_eq!(s.front(0, 0), Some(a));
        s.push_back(0, 0, a); // touch: a becomes most recent
        assert_eq!(s.front(0, 0), Some(b));
        s.push_back(1, 0, b);
        assert_eq!(s.remove(b), 20);
        assert_eq!(s.front(0, 0), Some(a));
        assert_eq!(s.front(1, 0), None);
        s.push_back(0, 0, c); // moves c from list 1 to list 0
        assert_eq!(s.front(0, 1), None);
        assert_eq!(s.list_of(0, c), Some(0));
        let d = s.insert(40);
        assert_eq!(d, b, "freed slot reused");
        assert_eq!(s.len(), 3);
        assert_eq!(s.live_slots(), vec![0, 1, 2]);
        s.remove(a);
        s.remove(c);
        assert_eq!(s.front(0, 0), None);
    }
}
