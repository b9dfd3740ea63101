//! The emulators `scripts/devenv up` starts, reached through the environment it prints.
//! Tests that need them fail (never skip) when it is missing.

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType,
};
use shared::adapters::dynamodb::{
    DynamoJobStore, KEY_ATTRIBUTE, OWNER_DEFINITION_INDEX, OWNER_INDEX, OWNER_STATUS_INDEX, PENDING_INDEX, QUEUE_INDEX,
};
use shared::infra::config::JOBS_TABLE;
use shared::infra::contract::FunctionContract;

pub fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through scripts/test, which starts DynamoDB Local and moto server")
    })
}

/// SDK configuration pointing DynamoDB at DynamoDB Local and everything else at moto.
pub async fn sdk_config() -> SdkConfig {
    required_env("AWS_ENDPOINT_URL");
    required_env("AWS_ENDPOINT_URL_DYNAMODB");
    shared::infra::sdk::load(&shared::infra::config::ProcessEnvironment)
        .await
        .expect("valid SDK configuration")
}

fn key(name: &str, key_type: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .expect("key schema")
}

/// A new, empty jobs table in DynamoDB Local, with the keys and indexes Terraform declares.
pub async fn fresh_table(client: &aws_sdk_dynamodb::Client) -> String {
    let name = format!("jobs-test-{}", uuid::Uuid::new_v4().simple());
    let mut request = client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(KEY_ATTRIBUTE, KeyType::Hash));
    for attribute in [
        KEY_ATTRIBUTE,
        "pendingShard",
        "pendingSince",
        "queuedFor",
        "queuedSince",
        "listOwner",
        "listStatus",
        "listDefinition",
        "listCreated",
    ] {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attribute)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute definition"),
        );
    }
    for (index, hash, range, included) in [
        (PENDING_INDEX, "pendingShard", "pendingSince", None),
        (QUEUE_INDEX, "queuedFor", "queuedSince", None),
        (OWNER_INDEX, "listOwner", "listCreated", None),
        (OWNER_STATUS_INDEX, "listStatus", "listCreated", Some("definition")),
        (OWNER_DEFINITION_INDEX, "listDefinition", "listCreated", None),
    ] {
        let projection = match included {
            None => Projection::builder().projection_type(ProjectionType::KeysOnly),
            Some(attribute) => Projection::builder()
                .projection_type(ProjectionType::Include)
                .non_key_attributes(attribute),
        };
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index)
                .key_schema(key(hash, KeyType::Hash))
                .key_schema(key(range, KeyType::Range))
                .projection(projection.build())
                .build()
                .expect("index"),
        );
    }
    request.send().await.expect("DynamoDB Local creates the table");
    name
}

/// A DynamoDB job store on a fresh table of DynamoDB Local.
pub async fn fresh_dynamo_store() -> DynamoJobStore {
    let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    let table = fresh_table(&client).await;
    DynamoJobStore::new(client, table)
}

/// What Lambda's runtime gives every function on AWS (credentials and region), plus the
/// endpoint overrides that stand in for AWS here.
pub const PROVIDED_BY_LAMBDA: [&str; 6] = [
    "AWS_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
];

/// The environment a function gets on AWS, here: what Lambda provides, plus exactly the
/// configuration variables the function declares (valued as `scripts/devenv` prints
/// them), with the jobs table replaced by `table`.
pub fn function_environment(contract: &FunctionContract, table: &str) -> Vec<(String, String)> {
    let declared = contract.environment.iter().map(|name| match *name {
        JOBS_TABLE => (JOBS_TABLE.to_owned(), table.to_owned()),
        name => (name.to_owned(), required_env(name)),
    });
    PROVIDED_BY_LAMBDA
        .into_iter()
        .map(|name| (name.to_owned(), required_env(name)))
        .chain(declared)
        .collect()
}
