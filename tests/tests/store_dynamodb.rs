//! The store conformance suite against DynamoDB Local, a fresh table per test.

tests::store_conformance_tests!(tests::emulators::fresh_dynamo_store());
