//! The store conformance suite against the in-process store.

use shared::adapters::memory::InMemoryJobStore;

tests::store_conformance_tests!(async { InMemoryJobStore::default() });
