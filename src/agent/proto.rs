//! The wire types and service traits generated from `proto/duo_workflow.proto` (the contract has no package, so everything is at the root).

#![allow(clippy::all, clippy::pedantic, missing_docs, unreachable_pub)]

include!(concat!(env!("OUT_DIR"), "/_.rs"));
