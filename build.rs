//! Compiles `proto/duo_workflow.proto` (the Agent Platform's gRPC contract) with a pure-Rust
//! protobuf compiler (`protox`): no system `protoc` is needed to build airgate.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/duo_workflow.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["proto"])?;
    tonic_prost_build::configure()
        .build_server(true)
        // Clients (the doctor's health check) use tonic-health's generated client.
        .build_client(false)
        .compile_fds(descriptors)?;
    Ok(())
}
