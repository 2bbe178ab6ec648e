//! The demo routes served by `wirestate serve`, shared by every runtime,
//! and small helpers for the command-line tool.

pub mod grpc;
pub mod grpc_blocking;
pub mod grpc_cli;
mod grpc_reflect;
pub mod grpc_web;
pub mod load;
pub mod mcp;
pub mod mcp_blocking;
pub mod mcp_client;
pub mod routes;
