//! Maps kept in memory across warm invocations (tokens, bindings, settings, folder ids) hold
//! one entry per workspace or account the instance has served: capped, so a deployment serving
//! many workspaces cannot grow an instance without bound.

use std::collections::HashMap;
use std::hash::Hash;

/// The most entries one such map holds.
pub const CAP: usize = 1024;

/// Inserts, first dropping one other entry when the map is full (an arbitrary one: each is
/// only a cache, read again from the table or the provider when missing).
pub fn insert<K: Eq + Hash + Clone, V>(map: &mut HashMap<K, V>, key: K, value: V) {
    insert_within(map, key, value, CAP);
}

fn insert_within<K: Eq + Hash + Clone, V>(map: &mut HashMap<K, V>, key: K, value: V, cap: usize) {
    if map.len() >= cap
        && !map.contains_key(&key)
        && let Some(victim) = map.keys().next().cloned()
    {
        map.remove(&victim);
    }
    map.insert(key, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_map_makes_room_and_never_grows_past_its_cap() {
        let mut m = HashMap::new();
        for i in 0..10 {
            insert_within(&mut m, i, i, 4);
            assert!(m.len() <= 4);
            assert_eq!(m.get(&i), Some(&i), "the newest is always kept");
        }
        assert_eq!(m.len(), 4);
        // Replacing a present key drops nothing.
        let before: Vec<_> = m.keys().copied().collect();
        insert_within(&mut m, before[0], 99, 4);
        assert_eq!(m.len(), 4);
        assert_eq!(m[&before[0]], 99);
        let mut big = HashMap::new();
        for i in 0..(CAP + 50) {
            insert(&mut big, i, ());
        }
        assert_eq!(big.len(), CAP);
    }
}
